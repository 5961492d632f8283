"""Writes for QR sessions: lifecycle transitions (stored, pushed live), QR codes, inbound events with
LID→phone mapping and contact merge, and the group-message switch."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache

from django.db import transaction
from django.utils import timezone

from automation.services import webhook_event_emit
from channels_wa.models import Channel, LidMapping, QRSession, QRSessionTransition
from channels_wa.providers.base import InboundMessage, StatusUpdate
from channels_wa.providers.qr_session import states
from core.realtime import broadcast_on_commit

logger = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def qr_svg(code: str) -> str:
    """The QR code as an inline SVG (segno, pure Python)."""
    import segno

    return segno.make(code, error="l").svg_inline(scale=5, border=2, dark="#111827")


def channel_status_payload(session: QRSession, *, include_codes: bool = True) -> dict:
    """The `channel.status` event of a QR session. The QR and pairing codes link a phone to the company's
    number, so only owners and admins get them (`include_codes`); the keys are absent, not empty, for the
    others, so a page never blanks a code because of them."""
    payload = {
        "id": session.channel_id,
        "status": states.CHANNEL_STATUS[session.state],
        "error": session.state_reason if session.state in (states.AUTH_FAILED, states.LOGGED_OUT) else "",
        "session_state": session.state,
        "reason": session.state_reason,
        "note": session.note,
        "advice": states.ADVICE[session.state],
        "changed_at": session.state_changed_at.isoformat() if session.state_changed_at else None,
    }
    if include_codes:
        is_pending = session.state == states.PENDING
        payload["qr_svg"] = qr_svg(session.qr_code) if is_pending and session.qr_code else ""
        payload["pairing_code"] = session.pairing_code if is_pending else ""
    return payload


def _broadcast(session: QRSession) -> None:
    from django.db import connection

    from accounts.models import User
    from core.realtime import user_group

    broadcast_on_commit("channel.status", channel_status_payload(session, include_codes=False))
    admins = User.objects.filter(is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN]).values_list(
        "id", flat=True
    )
    groups = [user_group(connection.schema_name, user_id) for user_id in admins]
    if groups:
        broadcast_on_commit("channel.status", channel_status_payload(session), groups=groups)


def qr_session_transition(*, session: QRSession, to_state: str, reason: str = "") -> QRSession:
    """Move the session to `to_state` (raises InvalidTransition for a move the lifecycle forbids), store
    the transition with its time and reason, mirror it on the channel and push it as `channel.status`."""
    with transaction.atomic():
        session = QRSession.objects.select_for_update().select_related("channel").get(pk=session.pk)
        states.transition_check(session.state, to_state)
        now = timezone.now()
        QRSessionTransition.objects.create(
            session=session, from_state=session.state, to_state=to_state, reason=reason
        )
        session.state, session.state_reason, session.state_changed_at = to_state, reason, now
        session.note = ""
        fields = ["state", "state_reason", "state_changed_at", "note"]
        if to_state != states.PENDING:
            session.qr_code = session.pairing_code = ""
            fields += ["qr_code", "pairing_code"]
        if to_state == states.READY and session.warmup_started_on is None:
            session.warmup_started_on = timezone.localdate()
            fields.append("warmup_started_on")
        if to_state in (states.LOGGED_OUT,):
            session.device_jid = ""
            fields.append("device_jid")
        session.save(update_fields=fields)
        channel = session.channel
        channel_status = states.CHANNEL_STATUS[to_state]
        error = reason if channel_status == Channel.Status.ERROR else ""
        if channel.status != channel_status or channel.last_error != error:
            channel.status, channel.last_error, channel.status_changed_at = channel_status, error, now
            channel.save(update_fields=["status", "last_error", "status_changed_at"])
            webhook_event_emit(
                event_type="channel.status", data={"id": channel.id, "status": channel_status, "error": error}
            )
        _broadcast(session)
    return session


def qr_session_show_code(*, session: QRSession, code: str) -> QRSession:
    """A new QR code to scan (whatsmeow rotates them): pending, and pushed to the dashboard in one event
    (two events could reach the page in either order and hide the code)."""
    with transaction.atomic():
        QRSession.objects.filter(pk=session.pk).update(qr_code=code)
        session.qr_code = code
        if session.state != states.PENDING:
            return qr_session_transition(
                session=session, to_state=states.PENDING, reason="Waiting for a scan."
            )
        _broadcast(session)
    return session


def qr_session_note(*, session: QRSession, note: str) -> QRSession:
    """What is happening within the current state (e.g. the next reconnect), shown live; not a transition."""
    with transaction.atomic():
        QRSession.objects.filter(pk=session.pk).update(note=note)
        session.note = note
        _broadcast(session)
    return session


def qr_session_set_pairing_code(*, session: QRSession, code: str) -> QRSession:
    with transaction.atomic():
        QRSession.objects.filter(pk=session.pk).update(pairing_code=code)
        session.pairing_code = code
        _broadcast(session)
    return session


def qr_session_paired(*, session: QRSession, device_jid: str) -> QRSession:
    QRSession.objects.filter(pk=session.pk).update(device_jid=device_jid)
    session.device_jid = device_jid
    return qr_session_transition(
        session=session, to_state=states.AUTHENTICATED, reason="Linked to the phone."
    )


def qr_session_update_settings(
    *,
    session: QRSession,
    is_group_messages_enabled: bool | None = None,
    daily_cap: int | None = None,
    quiet_hours: tuple | None = None,
    timezone_name: str | None = None,
) -> QRSession:
    """Change the session's safety settings; `quiet_hours` is (start, end), (None, None) for none."""
    if is_group_messages_enabled is not None:
        session.is_group_messages_enabled = is_group_messages_enabled
    if daily_cap is not None:
        session.daily_cap = daily_cap
    if quiet_hours is not None:
        session.quiet_hours_start, session.quiet_hours_end = quiet_hours
    if timezone_name is not None:
        session.timezone = timezone_name
    session.save(
        update_fields=[
            "is_group_messages_enabled",
            "daily_cap",
            "quiet_hours_start",
            "quiet_hours_end",
            "timezone",
        ]
    )
    return session


# --- inbound ----------------------------------------------------------------------------------------


def lid_learn(*, lid: str, phone: str) -> None:
    """Remember that `lid` is `phone`; a contact known only by its LID is merged into the phone's."""
    from inbox.contacts import contact_merge
    from inbox.models import Contact

    if not lid or not phone:
        return
    with transaction.atomic():
        LidMapping.objects.update_or_create(lid=lid, defaults={"phone": phone})
        lid_contact = Contact.objects.select_for_update().filter(whatsapp_id=f"lid:{lid}").first()
        if lid_contact is None:
            return
        phone_contact = (
            Contact.objects.select_for_update().filter(whatsapp_id=phone.lstrip("+")).first()
            or Contact.objects.select_for_update().filter(phone=phone).exclude(pk=lid_contact.pk).first()
        )
        if phone_contact is None:
            lid_contact.whatsapp_id, lid_contact.phone = phone.lstrip("+"), lid_contact.phone or phone
            lid_contact.save(update_fields=["whatsapp_id", "phone", "updated_at"])
        else:
            contact_merge(source=lid_contact, target=phone_contact)


def _with_known_phone(event: InboundMessage) -> InboundMessage:
    """A sender known only by LID gets its phone number when we learned it before."""
    lid = event.raw.get("sender_lid", "")
    if event.from_phone or not lid:
        return event
    phone = LidMapping.objects.filter(lid=lid).values_list("phone", flat=True).first()
    if phone is None:
        return event
    return replace(event, from_id=phone.lstrip("+"), from_phone=phone)


def qr_inbound_apply(*, channel: Channel, event: InboundMessage | StatusUpdate) -> str:
    """Store one event from a session. Returns what happened: stored, duplicate, status or ignored."""
    from inbox.services import message_status_apply

    if isinstance(event, StatusUpdate):
        message_status_apply(channel=channel, update=event)
        return "status"
    if event.raw.get("is_group"):
        session = QRSession.objects.filter(channel=channel).only("is_group_messages_enabled").first()
        if session is None or not session.is_group_messages_enabled:
            return "ignored"
        # One conversation per group: the group is the contact, the member is named in the message.
        group = event.raw.get("chat", "").partition("@")[0]
        return _store(channel, replace(event, from_id=f"g:{group}", from_phone="", profile_name=""))
    if event.raw.get("sender_lid") and event.from_phone:
        lid_learn(lid=event.raw["sender_lid"], phone=event.from_phone)
    return _store(channel, _with_known_phone(event))


def _store(channel: Channel, event: InboundMessage) -> str:
    from inbox.services import inbound_message_receive

    return "stored" if inbound_message_receive(channel=channel, event=event) is not None else "duplicate"


def qr_pacing_estimate(*, channel: Channel, recipients: int, average_text_length: int, start=None):
    """How long a campaign of `recipients` contacts takes on a QR channel, with what it already sent
    today: what the campaign wizard shows before it starts."""
    from channels_wa.providers.qr_session.pacing import PacingPolicy, PacingState, pacing_estimate

    session = QRSession.objects.get(channel=channel)
    policy = PacingPolicy.for_session(session)
    start = start or timezone.now()
    sent_today = PacingState(key=pacing_key(channel.id)).sent_on(start.astimezone(policy.tz).date())
    return pacing_estimate(
        policy,
        recipients=recipients,
        average_text_length=average_text_length,
        start=start,
        sent_today=sent_today,
    )


def pacing_key(channel_id: int) -> str:
    """The session's pacing counters, shared by the runner (sending) and estimates (reading)."""
    from django.db import connection

    return f"{connection.schema_name}:{channel_id}"
