from django.conf import settings
from django.db import connection
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware

from core.errors import json_error
from core.localcache import TTLCache
from tenants.models import Company

# Host → company, for a few seconds: every request needs it, and companies rarely change.
companies_by_host = TTLCache(ttl_s=settings.TENANT_CACHE_SECONDS)

# Paths a suspended company still answers: its customers' messages must never be lost.
SUSPENSION_EXEMPT_PREFIXES = ("/webhooks/", "/health", "/static/")


def platform_company() -> Company:
    """The public site is not a company row; an unsaved instance points the connection at `public`."""
    return Company(schema_name="public", slug="public", name="OmniDesk", status=Company.Status.ACTIVE)


def is_platform_host(hostname: str) -> bool:
    return hostname in (settings.BASE_DOMAIN, "127.0.0.1")


class CompanyHostMiddleware(TenantMainMiddleware):
    """Pick the schema from the Host: `<slug>.<BASE_DOMAIN>` is a company, BASE_DOMAIN the platform."""

    def get_tenant(self, domain_model, hostname):
        if is_platform_host(hostname):
            return platform_company()
        company = companies_by_host.get(hostname)
        if company is None:
            # The plan comes along: rate limits and quotas read it on every API request.
            company = domain_model.objects.select_related("tenant__plan").get(domain=hostname).tenant
            companies_by_host.set(hostname, company)
        return company

    def no_tenant_found(self, request, hostname):
        connection.set_schema_to_public()
        return render(request, "errors/unknown_company.html", {"hostname": hostname}, status=404)


class SuspendedCompanyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        if (
            tenant is not None
            and tenant.is_suspended
            and not request.path.startswith(SUSPENSION_EXEMPT_PREFIXES)
        ):
            message = f"{tenant.name} is suspended. Contact the platform operator to reactivate it."
            if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
                return json_error("company_suspended", message, 403)
            return render(
                request, "errors/suspended.html", {"company": tenant, "message": message}, status=403
            )
        return self.get_response(request)
