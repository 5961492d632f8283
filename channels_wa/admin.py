from django.contrib import admin, messages

from channels_wa.models import Channel, Template
from channels_wa.services import template_sync
from core.admin import tenant_site
from core.errors import OmniDeskError


class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "provider", "phone_number", "external_id", "status", "rate_per_s", "created_at")
    list_filter = ("provider", "status")
    search_fields = ("name", "phone_number", "external_id")
    readonly_fields = ("uuid", "status", "last_error", "status_changed_at", "created_at")
    # Secrets are write-only here: never shown back once saved.
    exclude = ("access_token", "app_secret", "verify_token")
    actions = ("sync_templates",)

    def has_add_permission(self, request) -> bool:
        return False  # channels are connected through the services (plan limits, routing)

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
