from django import forms
from django.contrib import admin, messages
from django.db import connection

from api.models import ApiKey
from api.scopes import ALL_SCOPES
from api.services import api_key_create, api_key_forget, api_key_revoke, api_key_usage_flush
from core.admin import tenant_site


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ALL_SCOPES], widget=forms.CheckboxSelectMultiple
    )
    allowed_cidrs = forms.CharField(
        required=False, help_text="Comma-separated CIDRs; empty allows any address."
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "expires_at", "allowed_cidrs", "requires_signature")

    def clean_allowed_cidrs(self) -> str:
        import ipaddress

        value = self.cleaned_data["allowed_cidrs"]
        for cidr in [c.strip() for c in value.split(",") if c.strip()]:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise forms.ValidationError(f"{cidr} is not an IP network.") from exc
        return value


class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "usage_count",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("requires_signature",)
    search_fields = ("name", "prefix")
    actions = ("revoke",)
    readonly_fields = (
        "prefix",
        "scopes",
        "allowed_cidrs",
        "requires_signature",
        "expires_at",
        "last_used_at",
        "usage_count",
        "created_by",
        "created_at",
        "revoked_at",
    )
    exclude = ("key_hash", "signing_secret")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["exclude"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def changelist_view(self, request, extra_context=None):
        api_key_usage_flush(schema=connection.schema_name)  # show the uses counted since the last flush
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        api_key_usage_flush(schema=connection.schema_name)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_model(self, request, obj):
        api_key_forget(key=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for key in queryset:
            api_key_forget(key=key)
        super().delete_queryset(request, queryset)

    def save_model(self, request, obj, form, change):
        if change:
            api_key_forget(key=obj)
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        issued = api_key_create(
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            allowed_cidrs=[c for c in data["allowed_cidrs"].split(",") if c.strip()],
            requires_signature=data["requires_signature"],
            created_by=request.user,
        )
        obj.pk = issued.key.pk
        obj._state.adding = False
        shown = f"Copy this key now, it will not be shown again: {issued.plaintext}"
        if issued.signing_secret:
            shown += f" — request signing secret: {issued.signing_secret}"
        self.message_user(request, shown, messages.WARNING)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


tenant_site.register(ApiKey, ApiKeyAdmin)
