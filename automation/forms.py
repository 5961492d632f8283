from __future__ import annotations

import json

from django import forms

from automation.models import AutoReplyRule, BusinessHours, Integration


class JSONTextField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "class": "mono"})

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value, indent=1)

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return json.loads(value or "null")
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc


class CommaListField(forms.CharField):
    def prepare_value(self, value):
        return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        return [part.strip() for part in (super().to_python(value) or "").split(",") if part.strip()]


class IntListField(CommaListField):
    def to_python(self, value):
        try:
            return [int(v) for v in super().to_python(value)]
        except ValueError as exc:
            raise forms.ValidationError("Use numbers separated by commas.") from exc


class BusinessHoursForm(forms.ModelForm):
    schedule = JSONTextField(help_text='{"mon": [["09:00", "17:00"]], …, "sun": []}')
    holidays = CommaListField(required=False, help_text="YYYY-MM-DD, comma separated")

    class Meta:
        model = BusinessHours
        fields = [
            "timezone",
            "schedule",
            "holidays",
            "is_away_message_enabled",
            "away_message",
            "quiet_hours_start",
            "quiet_hours_end",
            "cooldown_s",
            "loop_limit",
            "loop_window_s",
        ]
        widgets = {"away_message": forms.Textarea(attrs={"rows": 2})}

    def clean_holidays(self):
        try:
            return [forms.DateField().clean(v) for v in self.cleaned_data["holidays"]]
        except forms.ValidationError as exc:
            raise forms.ValidationError("Holidays are dates like 2026-12-25.") from exc


class RuleForm(forms.ModelForm):
    keywords = CommaListField(required=False)
    channel_ids = IntListField(required=False, label="Only channels (ids)")
    department_ids = IntListField(required=False, label="Only departments (ids)")
    contact_tags = CommaListField(required=False, label="Only contacts tagged")
    statuses = CommaListField(required=False, label="Only conversation statuses")
    actions = JSONTextField(
        help_text='[{"type": "reply_text", "text": "…"}]; also reply_template, assign, add_label, '
        "hand_to_ai, forward_integration, emit_webhook"
    )

    class Meta:
        model = AutoReplyRule
        fields = [
            "name",
            "channel",
            "position",
            "is_active",
            "trigger",
            "keywords",
            "match",
            "minutes",
            "channel_ids",
            "department_ids",
            "contact_tags",
            "statuses",
            "actions",
            "stop_after",
        ]


class IntegrationForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Stored encrypted; leave empty to keep the current key",
    )

    class Meta:
        model = Integration
        fields = ["name", "url", "api_key", "timeout_s", "is_active"]

    def clean_api_key(self):
        return self.cleaned_data["api_key"] or (self.instance.api_key if self.instance.pk else "")
