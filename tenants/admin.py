from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet

from core.admin import platform_site
from core.errors import OmniDeskError
from tenants.models import ChannelRoute, Company, Plan, WebhookEvent
from tenants.services import company_create, company_seats_used, company_set_status, company_validate_new


class CompanyCreateForm(forms.ModelForm):
    owner_email = forms.EmailField()
    owner_name = forms.CharField(required=False)
    owner_password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    class Meta:
        model = Company
        fields = ("name", "slug", "plan", "timezone")

    def clean(self):
        data = super().clean()
        if data.get("slug") and data.get("owner_email"):
            try:
                company_validate_new(slug=data["slug"], owner_email=data["owner_email"])
            except OmniDeskError as exc:
                raise forms.ValidationError(exc.message) from exc
        return data

    def validate_unique(self):
        """Uniqueness is checked by company_validate_new, with the schema_name it derives."""


class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "plan", "status", "primary_domain", "seats_used", "created_at")
    list_filter = ("status", "plan")
    search_fields = ("name", "slug", "domains__domain")
    ordering = ("-created_at",)
    actions = ("suspend", "reactivate")
    list_select_related = ("plan",)

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).exclude(schema_name=settings.TENANT_BASE_SCHEMA)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CompanyCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return (
                (None, {"fields": ("name", "slug", "plan", "timezone")}),
                ("Owner", {"fields": ("owner_email", "owner_name", "owner_password")}),
            )
        return (
            (
                None,
                {"fields": ("name", "slug", "plan", "status", "timezone", "created_at", "status_changed_at")},
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        return ("slug", "status", "created_at", "status_changed_at") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "plan", "timezone"])
            return
        data = form.cleaned_data
        created = company_create(
            name=data["name"],
            slug=data["slug"],
            plan_code=data["plan"].code if data["plan"] else "free",
            timezone_name=data["timezone"],
            owner_email=data["owner_email"],
            owner_password=data["owner_password"],
            owner_name=data.get("owner_name", ""),
        )
        obj.pk = created.pk
        obj.schema_name = created.schema_name
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="domain")
    def primary_domain(self, obj: Company) -> str:
        domain = obj.get_primary_domain()
        return domain.domain if domain else "—"

    @admin.display(description="seats used")
    def seats_used(self, obj: Company) -> str:
        limit = obj.plan.max_seats if obj.plan else "∞"
        return f"{company_seats_used(company=obj)} / {limit}"

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        for company in queryset:
            company_set_status(company=company, status=status)
        self.message_user(request, f"{queryset.count()} company(ies) {verb}.", messages.SUCCESS)

    @admin.action(description="Suspend selected companies")
    def suspend(self, request, queryset):
        self._set_status(request, queryset, Company.Status.SUSPENDED, "suspended")

    @admin.action(description="Reactivate selected companies")
    def reactivate(self, request, queryset):
        self._set_status(request, queryset, Company.Status.ACTIVE, "reactivated")


class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "code",
        "max_channels",
        "max_seats",
        "messages_per_day",
        "api_requests_per_minute",
    )
    list_editable = ("max_channels", "max_seats", "messages_per_day", "api_requests_per_minute")


class ChannelRouteAdmin(admin.ModelAdmin):
    list_display = ("provider", "external_id", "company", "channel_id", "created_at")
    list_filter = ("provider",)
    search_fields = ("external_id", "company__slug")
    list_select_related = ("company",)


platform_site.register(Company, CompanyAdmin)
platform_site.register(Plan, PlanAdmin)
platform_site.register(ChannelRoute, ChannelRouteAdmin)


class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "provider", "company", "status", "attempts", "error")
    list_filter = ("status", "provider")
    search_fields = ("body", "error")
    readonly_fields = (
        "provider",
        "company",
        "channel_id",
        "body",
        "headers",
        "body_sha256",
        "status",
        "error",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_select_related = ("company",)
    actions = ("reprocess",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Process the selected events again")
    def reprocess(self, request, queryset):
        from channels_wa.inbound import webhook_event_process

        results = [webhook_event_process(event_id=event.id) for event in queryset]
        self.message_user(
            request,
            f"Re-processed {len([r for r in results if r])} event(s): "
            f"{', '.join(sorted({r for r in results if r})) or 'nothing to do'}.",
        )


platform_site.register(WebhookEvent, WebhookEventAdmin)
