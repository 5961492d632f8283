"""Tenant and session resolution for WebSockets, mirroring the HTTP middleware.

The Host header picks the company; the session cookie is looked up in THAT company's schema,
so a cookie from one company is meaningless on another's host."""

from __future__ import annotations

from http.cookies import SimpleCookie
from types import SimpleNamespace
from urllib.parse import urlparse

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string
from django_tenants.utils import schema_context

from accounts.services import SESSION_SCHEMA_KEY


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _hostname(host: str) -> str:
    return host.split(":")[0].lower()


@database_sync_to_async
def _resolve(hostname: str, session_key: str | None):
    from tenants.middleware import is_platform_host
    from tenants.models import Domain

    if is_platform_host(hostname):
        return None, AnonymousUser()
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    if domain is None:
        return None, AnonymousUser()
    tenant = domain.tenant
    if not session_key:
        return tenant, AnonymousUser()
    with schema_context(tenant.schema_name):
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
        if store.get(SESSION_SCHEMA_KEY) != tenant.schema_name:
            return tenant, AnonymousUser()
        user = get_user(SimpleNamespace(session=store))
        # Touch the fields the consumer reads while the schema is still set.
        if user.is_authenticated:
            _ = (user.is_active, user.role)
    return tenant, user


class TenantWebSocketMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        hostname = _hostname(_header(scope, b"host"))
        origin = _header(scope, b"origin")
        scope["origin_matches_host"] = not origin or _hostname(urlparse(origin).netloc) == hostname
        cookies = SimpleCookie()
        cookies.load(_header(scope, b"cookie"))
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        tenant, user = await _resolve(hostname, morsel.value if morsel else None)
        scope["tenant"] = tenant
        scope["user"] = user
        return await self.app(scope, receive, send)
