"""Dashboard pages for QR-code sessions: the live QR code, the pairing code by phone number, and the
buttons to link again or unlink. Actions go to the runner holding the session (routing.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from channels_wa.models import QRSession
from channels_wa.providers.qr_session import states
from channels_wa.providers.qr_session.routing import SessionUnavailable, runner_call
from channels_wa.providers.qr_session.services import channel_status_payload
from core.errors import OmniDeskError


def _session(request, channel_id: int) -> QRSession:
    return get_object_or_404(
        QRSession.objects.select_related("channel"), channel_id=channel_id, channel__provider="qr_session"
    )


def _admin_only(request) -> None:
    if not request.user.is_company_admin:
        raise PermissionDenied("Only owners and admins manage WhatsApp numbers.")


@login_required
@require_POST
def qr_channel_new(request):
    from channels_wa.services import channel_create

    _admin_only(request)
    import uuid

    name = (request.POST.get("name") or "").strip() or "WhatsApp (QR code)"
    try:
        channel = channel_create(
            provider="qr_session", name=name[:120], external_id=f"qr-{uuid.uuid4().hex[:16]}"
        )
    except OmniDeskError as exc:
        messages.error(request, exc.message)
        return redirect("channels")
    return redirect("qr-session", channel_id=channel.id)


@login_required
def qr_session_page(request, channel_id: int):
    session = _session(request, channel_id)
    context = {
        "session": session,
        "channel": session.channel,
        "status": channel_status_payload(session, include_codes=request.user.is_company_admin),
        "transitions": session.transitions.order_by("-occurred_at", "-id")[:20],
        "company": request.tenant,
        "can_manage": request.user.is_company_admin,
    }
    return render(request, "channels/qr_session.html", context)


@login_required
def qr_session_status(request, channel_id: int):
    """The current state, for a page that reconnects and may have missed events."""
    session = _session(request, channel_id)
    return JsonResponse(channel_status_payload(session, include_codes=request.user.is_company_admin))


def _call(session: QRSession, op: str, payload: dict, timeout_s: float = 20) -> JsonResponse:
    try:
        reply = runner_call(
            schema_name=connection.schema_name,
            channel_id=session.channel_id,
            op=op,
            payload=payload,
            timeout_s=timeout_s,
        )
    except SessionUnavailable as exc:
        return JsonResponse(
            {"error": {"code": "session_unavailable", "message": str(exc), "details": {}}}, status=503
        )
    if not reply.ok:
        error = reply.data.get("error") or {}
        return JsonResponse(
            {
                "error": {
                    "code": error.get("code", "runner_error"),
                    "message": error.get("title", ""),
                    "details": {},
                }
            },
            status=502,
        )
    return JsonResponse({key: value for key, value in reply.data.items() if key != "ok"})


@login_required
@require_POST
def qr_session_pair(request, channel_id: int):
    """A pairing code for the phone number, typed on the phone instead of scanning."""
    from channels_wa.services import phone_normalize

    _admin_only(request)
    session = _session(request, channel_id)
    try:
        phone = phone_normalize(request.POST.get("phone", ""))
    except OmniDeskError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "details": {}}}, status=400)
    if session.state not in (states.PENDING, states.NOT_STARTED, states.LOGGED_OUT, states.AUTH_FAILED):
        return JsonResponse(
            {"error": {"code": "already_linked", "message": "This number is already linked.", "details": {}}},
            status=409,
        )
    return _call(session, "pair", {"phone": phone})


@login_required
@require_POST
def qr_session_restart(request, channel_id: int):
    _admin_only(request)
    return _call(_session(request, channel_id), "restart", {})


@login_required
@require_POST
def qr_session_logout(request, channel_id: int):
    _admin_only(request)
    return _call(_session(request, channel_id), "logout", {})


@login_required
@require_POST
def qr_session_settings(request, channel_id: int):
    """Group messages on or off, the daily cap, quiet hours and their time zone."""
    from datetime import time
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from channels_wa.providers.qr_session.services import qr_session_update_settings

    _admin_only(request)
    session = _session(request, channel_id)
    errors = {}
    try:
        daily_cap = int(request.POST.get("daily_cap", session.daily_cap))
        if not 1 <= daily_cap <= 1000:
            raise ValueError
    except ValueError:
        errors["daily_cap"] = "A whole number from 1 to 1000."
    quiet = []
    for name in ("quiet_hours_start", "quiet_hours_end"):
        value = request.POST.get(name, "").strip()
        try:
            quiet.append(time.fromisoformat(value) if value else None)
        except ValueError:
            errors[name] = "A time such as 21:00."
    timezone_name = request.POST.get("timezone", session.timezone).strip() or "UTC"
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "A time zone such as Europe/Berlin."
    if not errors and (quiet[0] is None) != (quiet[1] is None):
        errors["quiet_hours_end"] = "Give both the start and the end of quiet hours, or neither."
    if errors:
        return JsonResponse(
            {"error": {"code": "validation_failed", "message": "Check the settings.", "details": errors}},
            status=400,
        )
    session = qr_session_update_settings(
        session=session,
        is_group_messages_enabled=request.POST.get("is_group_messages_enabled") == "on",
        daily_cap=daily_cap,
        quiet_hours=(quiet[0], quiet[1]),
        timezone_name=timezone_name,
    )
    return JsonResponse(
        {
            "is_group_messages_enabled": session.is_group_messages_enabled,
            "daily_cap": session.daily_cap,
            "quiet_hours_start": session.quiet_hours_start.isoformat() if session.quiet_hours_start else None,
            "quiet_hours_end": session.quiet_hours_end.isoformat() if session.quiet_hours_end else None,
            "timezone": session.timezone,
        }
    )
