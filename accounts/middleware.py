from django.contrib.auth import logout
from django.db import connection

from accounts.services import SESSION_SCHEMA_KEY


class SessionTenantGuardMiddleware:
    """A session opened on one company's host is never honoured on another's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if request.session.get(SESSION_SCHEMA_KEY) != connection.schema_name:
                logout(request)
        return self.get_response(request)
