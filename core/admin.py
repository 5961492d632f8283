"""Two admin sites: the platform console on the public host (superadmins only) and each company's
own admin on its host (owners and admins only). Later apps register their models on `tenant_site`."""

from django.contrib import admin
from django.db import connection

from accounts.forms import AdminLoginForm
from accounts.services import session_bind_company


class BoundSessionAdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        if request.method == "POST" and request.user.is_authenticated:
            session_bind_company(request=request)
        return response


class PlatformAdminSite(BoundSessionAdminSite):
    site_header = "OmniDesk operator console"
    site_title = "OmniDesk operators"
    index_title = "Platform"

    def has_permission(self, request) -> bool:
        user = request.user
        return connection.schema_name == "public" and user.is_active and user.is_superuser


class TenantAdminSite(BoundSessionAdminSite):
    site_header = "OmniDesk company admin"
    site_title = "OmniDesk admin"
    index_title = "Company settings"

    def has_permission(self, request) -> bool:
        user = request.user
        return connection.schema_name != "public" and user.is_active and user.is_company_admin

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = f"{tenant.name} · OmniDesk admin"
        return context


platform_site = PlatformAdminSite(name="platform_admin")
tenant_site = TenantAdminSite(name="tenant_admin")
