from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection
from django.http import HttpRequest

from accounts.models import Department, User
from core.errors import OmniDeskError, ValidationFailed
from core.redis import get_redis

SESSION_SCHEMA_KEY = "omnidesk_schema"


class LoginRefused(OmniDeskError):
    status_code = 401
    code = "invalid_credentials"


class LoginLocked(OmniDeskError):
    status_code = 429
    code = "login_locked"


def user_create(*, email: str, password: str | None, name: str = "", role: str = User.Role.AGENT) -> User:
    """Create a staff user in the current schema (a company's, or public for superadmins)."""
    email = User.objects.normalize_email(email).lower()
    if role not in User.Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", details={"role": role})
    if User.objects.filter(email=email).exists():
        raise ValidationFailed(
            "A user with this email already exists.", code="email_taken", details={"email": email}
        )
    return User.objects.create_user(email, password, name=name, role=role)


def department_create(*, name: str, member_ids: list[int] | None = None) -> Department:
    department = Department.objects.create(name=name)
    if member_ids:
        department.members.set(User.objects.filter(id__in=member_ids))
    return department


def _login_keys(email: str) -> tuple[str, str]:
    scope = f"{connection.schema_name}:{email.strip().lower()}"
    return f"login:failures:{scope}", f"login:locked:{scope}"


def user_authenticate(*, request: HttpRequest | None, email: str, password: str) -> User:
    """Check credentials in the current schema; repeated failures lock the account here for a while."""
    failures_key, locked_key = _login_keys(email)
    redis = get_redis()
    locked_for_s = redis.ttl(locked_key)
    if locked_for_s and locked_for_s > 0:
        raise LoginLocked(
            f"Too many failed sign-in attempts. Try again in {math.ceil(locked_for_s / 60)} minute(s).",
            details={"retry_after_s": locked_for_s},
        )
    user = authenticate(request, username=email.strip().lower(), password=password)
    if user is None:
        failures = redis.incr(failures_key)
        redis.expire(failures_key, settings.LOGIN_LOCKOUT_SECONDS)
        if failures >= settings.LOGIN_MAX_FAILURES:
            redis.set(locked_key, "1", ex=settings.LOGIN_LOCKOUT_SECONDS)
            redis.delete(failures_key)
            raise LoginLocked(
                "Too many failed sign-in attempts. This account is locked for "
                f"{math.ceil(settings.LOGIN_LOCKOUT_SECONDS / 60)} minute(s).",
                details={"retry_after_s": settings.LOGIN_LOCKOUT_SECONDS},
            )
        raise LoginRefused("Email or password is incorrect.")
    redis.delete(failures_key)
    return user


def session_bind_company(*, request: HttpRequest) -> None:
    """Record which schema a session was opened in, so it is never honoured on another host."""
    request.session[SESSION_SCHEMA_KEY] = connection.schema_name
