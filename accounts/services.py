from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection, transaction
from django.http import HttpRequest

from accounts.models import Department, User
from core.errors import OmniDeskError, ValidationFailed
from core.realtime import broadcast_on_commit, user_group
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
    with transaction.atomic():
        department = Department.objects.create(name=name)
        if member_ids:
            department.members.set(User.objects.filter(id__in=member_ids))
            _access_changed(department.members.values_list("id", flat=True))
    return department


def department_delete(*, department: Department) -> None:
    """Its conversations keep going, with no department (every agent sees them)."""
    with transaction.atomic():
        _access_changed(department.members.values_list("id", flat=True))
        department.delete()


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


def _seats_left() -> int | None:
    company = getattr(connection, "tenant", None)
    plan = getattr(company, "plan", None)
    if plan is None:
        return None
    return plan.max_seats - User.objects.filter(is_active=True).count()


def user_invite(
    *,
    email: str,
    name: str = "",
    role: str = User.Role.AGENT,
    department_ids: list[int] | None = None,
    base_url: str,
) -> User:
    """Add a staff member without a password and email them a link to set one (valid until used, or until
    PASSWORD_RESET_TIMEOUT)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.core.mail import send_mail
    from django.db import transaction
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    if role == User.Role.OWNER:
        raise ValidationFailed("A company has one owner; invite an admin instead.", code="invalid_role")
    seats_left = _seats_left()
    if seats_left is not None and seats_left <= 0:
        raise OmniDeskError(
            "Every seat of your plan is taken: deactivate someone or upgrade the plan.",
            code="seat_limit",
            status_code=422,
        )
    with transaction.atomic():
        user = user_create(email=email, password=None, name=name, role=role)
        if department_ids:
            user.departments.set(Department.objects.filter(id__in=department_ids))
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    link = f"{base_url}/invite/{uid}/{token}/"
    company_name = getattr(getattr(connection, "tenant", None), "name", "your company")
    send_mail(
        subject=f"You are invited to {company_name} on OmniDesk",
        message=f"Hello {name or email},\n\nSet your password to start: {link}\n\nThe link works once.",
        from_email=None,
        recipient_list=[user.email],
    )
    return user


def _access_changed(user_ids) -> None:
    """Open dashboards of these users re-read what they may see (their sockets filter inbox events)."""
    for user_id in set(user_ids):
        broadcast_on_commit(
            "user.access_changed", {"user_id": user_id}, groups=[user_group(connection.schema_name, user_id)]
        )


def user_update(
    *,
    user: User,
    acting_user: User,
    role: str | None = None,
    is_active: bool | None = None,
    department_ids: list[int] | None = None,
) -> User:
    if user.pk == acting_user.pk:
        raise ValidationFailed("You cannot change your own role or deactivate yourself.", code="self_change")
    if user.role == User.Role.OWNER:
        raise ValidationFailed("The owner's account cannot be changed here.", code="owner_locked")
    if role is not None:
        if role not in User.Role.values or role == User.Role.OWNER:
            raise ValidationFailed(f"Unknown role {role!r}.", code="invalid_role")
        user.role = role
    if is_active is not None and is_active != user.is_active:
        seats_left = _seats_left()
        if is_active and seats_left is not None and seats_left <= 0:
            raise OmniDeskError("Every seat of your plan is taken.", code="seat_limit", status_code=422)
        user.is_active = is_active
    with transaction.atomic():
        user.save(update_fields=["role", "is_active"])
        if department_ids is not None:
            user.departments.set(Department.objects.filter(id__in=department_ids))
        _access_changed([user.pk])
    return user


def department_update(*, department: Department, name: str, member_ids: list[int]) -> Department:
    if not name.strip():
        raise ValidationFailed("A department needs a name.", code="name_required")
    department.name = name.strip()[:80]
    with transaction.atomic():
        department.save(update_fields=["name"])
        before = set(department.members.values_list("id", flat=True))
        department.members.set(User.objects.filter(id__in=member_ids))
        after = set(department.members.values_list("id", flat=True))
        _access_changed(before ^ after)
    return department
