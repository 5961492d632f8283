from django import forms
from django.contrib import admin, messages

from automation.models import WebhookDelivery, WebhookEndpoint
from automation.services import (
    WEBHOOK_EVENT_TYPES,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_endpoint_validate,
)
from core.admin import tenant_site
from core.errors import OmniDeskError


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in WEBHOOK_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "events", "is_active")

    def clean(self):
        data = super().clean()
        if data.get("url"):
            try:
                data["url"], data["events"] = webhook_endpoint_validate(
                    url=data["url"], events=data.get("events") or []
                )
            except OmniDeskError as exc:
                raise forms.ValidationError(exc.message) from exc
        return data


class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = (
        "url",
        "description",
        "is_active",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    )
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    # The secret is never shown: it is displayed once, when the endpoint is created.
    readonly_fields = ("disabled_reason", "disabled_at", "consecutive_failures", "created_at")
    actions = ("enable",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("url", "description", "events")
        return ("url", "description", "events", "is_active", *self.readonly_fields)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            webhook_endpoint_update(
                endpoint=WebhookEndpoint.objects.get(pk=obj.pk),
                url=data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
            )
            return
        created, secret = webhook_endpoint_create(
            url=data["url"], events=data["events"], description=data["description"]
        )
        obj.pk = created.pk
        obj._state.adding = False
        self.message_user(
            request,
            f"Signing secret (copy it now, it is not shown again): {secret}",
            messages.WARNING,
        )

    @admin.action(description="Enable (clears the failure count)")
    def enable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, is_active=True)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)


class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("delivery_id", "event_id")
    list_select_related = ("endpoint",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ("retry",)

    def has_add_permission(self, request) -> bool:
        return False  # deliveries come from events

    @admin.action(description="Retry now (same delivery id)")
    def retry(self, request, queryset):
        retried = 0
        for delivery in queryset:
            try:
                webhook_delivery_retry(delivery=delivery)
                retried += 1
            except OmniDeskError as exc:
                self.message_user(request, f"{delivery.delivery_id}: {exc.message}", messages.ERROR)
        if retried:
            self.message_user(request, f"{retried} delivery(ies) queued again.", messages.SUCCESS)


tenant_site.register(WebhookEndpoint, WebhookEndpointAdmin)
tenant_site.register(WebhookDelivery, WebhookDeliveryAdmin)
