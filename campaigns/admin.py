from django.contrib import admin

from campaigns.models import Campaign, OptOutSettings
from core.admin import tenant_site


class CampaignAdmin(admin.ModelAdmin):
    """Read-only here: campaigns are created and controlled on the Campaigns pages and the API."""

    list_display = ("name", "channel", "status", "created_at", "started_at", "completed_at")
    list_filter = ("status", "channel")
    search_fields = ("name",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OptOutSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "extra_keywords")

    def has_add_permission(self, request) -> bool:
        return not OptOutSettings.objects.exists()


tenant_site.register(Campaign, CampaignAdmin)
tenant_site.register(OptOutSettings, OptOutSettingsAdmin)
