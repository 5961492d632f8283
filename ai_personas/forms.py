from __future__ import annotations

from django import forms

from ai_personas.models import AIProvider, KnowledgeBase, Persona
from automation.forms import CommaListField


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Empty for the provider's default"
    )
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Stored encrypted; leave empty to keep the current key",
    )

    class Meta:
        model = AIProvider
        fields = ["name", "kind", "base_url", "api_key", "timeout_s"]

    def clean_api_key(self):
        return self.cleaned_data["api_key"] or (self.instance.api_key if self.instance.pk else "")


class PersonaForm(forms.ModelForm):
    handoff_keywords = CommaListField(required=False, help_text="e.g. human, agent")

    class Meta:
        model = Persona
        fields = [
            "name",
            "provider",
            "model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "language",
            "channels",
            "departments",
            "knowledge_bases",
            "top_k",
            "score_threshold",
            "history_messages",
            "handoff_keywords",
            "handoff_on_unknown",
            "max_ai_turns",
            "handoff_message",
            "handoff_department",
            "is_active",
        ]
        widgets = {
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
            "handoff_message": forms.Textarea(attrs={"rows": 2}),
        }


class KnowledgeBaseForm(forms.ModelForm):
    class Meta:
        model = KnowledgeBase
        fields = ["name", "embedder", "provider", "embedding_model", "chunk_size", "chunk_overlap"]


class UploadForm(forms.Form):
    file = forms.FileField(help_text="txt, md, html, csv (question,answer) or pdf")
    title = forms.CharField(required=False)


class PlaygroundForm(forms.Form):
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class BudgetForm(forms.Form):
    monthly_token_budget = forms.IntegerField(min_value=0)
