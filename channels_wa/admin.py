from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html, format_html_join

from channels_wa.models import Channel, Template
from channels_wa.selectors import channel_setup_steps
from channels_wa.services import channel_create, channel_validate_new, template_sync
from core.admin import tenant_site
from core.errors import OmniDeskError


class ChannelCreateForm(forms.ModelForm):
    access_token = forms.CharField(widget=forms.PasswordInput, required=False)
    app_secret = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="Used to verify the provider's webhook signatures.",
    )
    verify_token = forms.CharField(required=False, help_text="Leave empty to generate one.")
    api_base_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Leave empty for the provider's own API."
    )

    class Meta:
        model = Channel
        fields = (
            "provider",
            "name",
            "phone_number",
            "external_id",
            "account_id",
            "api_base_url",
            "api_version",
            "rate_per_s",
            "default_department",
            "human_agent_tag_enabled",
        )

    def clean(self):
        data = super().clean()
        if data.get("provider") and data.get("external_id"):
            try:
                channel_validate_new(
                    provider=data["provider"],
                    external_id=data["external_id"],
                    phone_number=data.get("phone_number", ""),
                )
            except OmniDeskError as exc:
                raise forms.ValidationError(exc.message) from exc
        return data

    def validate_unique(self):
        """Uniqueness (one company per number) is checked by channel_validate_new."""


BADGES = {
    "meta_whatsapp": "WA",
    "sandbox": "WA",
    "twilio_whatsapp": "WA",
    "twilio_sms": "SMS",
    "meta_messenger": "M",
    "meta_instagram": "IG",
}


def channel_badge(channel: Channel) -> str:
    return format_html(
        '<span class="od-channel od-channel--{}" title="{}">{}</span>',
        channel.provider,
        channel.get_provider_display(),
        BADGES.get(channel.provider, "?"),
    )


class ChannelAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "kind",
        "name",
        "provider",
        "phone_number",
        "external_id",
        "status",
        "rate_per_s",
        "created_at",
    )
    list_display_links = ("name",)
    list_filter = ("provider", "status")
    search_fields = ("name", "phone_number", "external_id")
    readonly_fields = ("webhook_setup", "uuid", "status", "last_error", "status_changed_at", "created_at")

    class Media:
        css = {"all": ("channels_wa/channels.css",)}

    @admin.display(description="")
    def kind(self, obj: Channel) -> str:
        return channel_badge(obj)

    @admin.display(description="Webhook: what to paste where")
    def webhook_setup(self, obj: Channel) -> str:
        return format_html(
            '<ol class="od-setup">{}</ol>',
            format_html_join("", "<li>{}</li>", ((s,) for s in channel_setup_steps(channel=obj))),
        )

    def response_add(self, request, obj, post_url_continue=None):
        channel = Channel.objects.get(pk=obj.pk)
        self.message_user(
            request,
            format_html(
                "{} connected. Webhook setup: {}",
                channel.name,
                format_html_join(" ", "<br>{}", ((s,) for s in channel_setup_steps(channel=channel))),
            ),
            messages.SUCCESS,
        )
        return super().response_add(request, obj, post_url_continue)

    # Secrets are write-only here: never shown back once saved.
    exclude = ("access_token", "app_secret", "verify_token")
    actions = ("sync_templates",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ChannelCreateForm
            kwargs["exclude"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return (
                (None, {"fields": ("provider", "name", "phone_number", "external_id", "account_id")}),
                ("Credentials", {"fields": ("access_token", "app_secret", "verify_token")}),
                (
                    "Sending",
                    {
                        "fields": (
                            "api_base_url",
                            "api_version",
                            "rate_per_s",
                            "default_department",
                            "human_agent_tag_enabled",
                        )
                    },
                ),
            )
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        created = channel_create(
            provider=data["provider"],
            name=data["name"],
            external_id=data["external_id"],
            phone_number=data["phone_number"],
            account_id=data["account_id"],
            access_token=data["access_token"],
            app_secret=data["app_secret"],
            verify_token=data["verify_token"],
            api_base_url=data["api_base_url"],
            api_version=data["api_version"],
            rate_per_s=data["rate_per_s"],
            default_department_id=data["default_department"].id if data["default_department"] else None,
            human_agent_tag_enabled=data.get("human_agent_tag_enabled", False),
        )
        obj.pk, obj.uuid = created.pk, created.uuid
        obj._state.adding = False

    @admin.action(description="Sync message templates from the provider")
    def sync_templates(self, request, queryset):
        for channel in queryset:
            try:
                count = template_sync(channel=channel)
            except OmniDeskError as exc:
                self.message_user(request, f"{channel}: {exc.message}", messages.ERROR)
            except Exception as exc:  # provider errors are shown, not raised at the operator
                self.message_user(request, f"{channel}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{channel}: {count} template(s) synced.", messages.SUCCESS)


class TemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "category", "status", "variable_count", "channel", "synced_at")
    list_filter = ("status", "category", "channel")
    search_fields = ("name",)


tenant_site.register(Channel, ChannelAdmin)
tenant_site.register(Template, TemplateAdmin)
