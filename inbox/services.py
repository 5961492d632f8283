"""Everything that changes the inbox. Every channel calls these, whatever its provider."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from channels_wa.models import Channel
from channels_wa.providers import base
from channels_wa.providers.base import InboundMessage, ProviderError, StatusUpdate
from core.errors import BusinessRuleViolation, ValidationFailed
from core.jobs import enqueue_on_commit
from core.rows import ModelInsert
from inbox.events import emit_contact, emit_conversation, emit_message
from inbox.models import Contact, ContactIdentity, Conversation, Label, Message, Note, PendingStatus
from inbox.selectors import contact_by_number, contact_with_open_conversation
from tenants.models import Company
from tenants.usage import usage_message_consume

WINDOW = timedelta(hours=24)
MAX_TEXT_LENGTH = 4096
PREVIEW_LENGTH = 160
# Kinds that may be sent outside the 24-hour customer service window.
ALWAYS_ALLOWED_KINDS = frozenset({base.TEMPLATE})
STATUS_RANK = {"queued": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3}
# Identities that are phone numbers are the same for every channel; page-scoped ids are not.
UNSCOPED_IDENTITIES = frozenset({"whatsapp", "sms"})
HUMAN_AGENT_TAG = "HUMAN_AGENT"


def _preview(message: Message) -> str:
    text = message.body or f"[{message.kind}]"
    return text[:PREVIEW_LENGTH]


def _identity_attach(contact: Contact, kind: str, value: str, scope: str = "") -> bool:
    """Record the identity for the contact unless somebody holds it already; True when this call did."""
    table = ContactIdentity._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("contact_id", "kind", "scope", "value", "created_at") '
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [contact.pk, kind, scope, value, timezone.now()],
        )
        return cursor.fetchone() is not None


def _identity_owner(kind: str, value: str, scope: str) -> int | None:
    return (
        ContactIdentity.objects.filter(kind=kind, scope=scope, value=value)
        .values_list("contact_id", flat=True)
        .first()
    )


def _contact_fill(
    contact: Contact, *, whatsapp_id: str = "", phone: str = "", profile_name: str = ""
) -> None:
    changed = []
    if profile_name and contact.profile_name != profile_name:
        contact.profile_name = profile_name
        changed.append("profile_name")
    if whatsapp_id and not contact.whatsapp_id:
        contact.whatsapp_id = whatsapp_id
        changed.append("whatsapp_id")
    if phone and not contact.phone:
        contact.phone = phone
        changed.append("phone")
    if changed:
        with transaction.atomic():
            contact.save(update_fields=[*changed, "updated_at"])
            emit_contact("contact.updated", contact)


def contact_upsert_identity(
    *, kind: str, value: str, scope: str = "", phone: str = "", profile_name: str = ""
) -> Contact:
    """The contact known by this identity on this kind of channel, else the one with this phone (the same
    phone on WhatsApp and SMS is one person), else a new contact; the identity is recorded either way."""
    contact, _ = _contact_upsert(kind=kind, value=value, scope=scope, phone=phone, profile_name=profile_name)
    return contact


def _contact_upsert(
    *,
    kind: str,
    value: str,
    scope: str = "",
    phone: str = "",
    profile_name: str = "",
    is_identity_unknown: bool = False,
) -> tuple[Contact, bool]:
    """contact_upsert_identity, and whether this call created the contact. `is_identity_unknown`: the caller
    has just looked the identity up in this transaction and nobody holds it (no second lookup)."""
    if kind in UNSCOPED_IDENTITIES:
        scope = ""
    whatsapp_id = value if kind == ContactIdentity.Kind.WHATSAPP else ""
    if not is_identity_unknown:
        identity = (
            ContactIdentity.objects.select_related("contact")
            .filter(kind=kind, scope=scope, value=value)
            .first()
        )
        if identity is not None:
            contact = identity.contact
            _contact_fill(contact, whatsapp_id=whatsapp_id, phone=phone, profile_name=profile_name)
            return contact, False
    contact = contact_by_number(whatsapp_id=whatsapp_id, phone=phone)
    if contact is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    whatsapp_id=whatsapp_id, phone=phone, profile_name=profile_name
                )
                if not _identity_attach(contact, kind, value, scope):
                    raise IntegrityError("identity taken")  # by another worker first: use its contact
                emit_contact("contact.created", contact)
                return contact, True
        except IntegrityError:  # created concurrently by another worker
            owner = _identity_owner(kind, value, scope)
            contact = Contact.objects.get(pk=owner) if owner else Contact.objects.get(whatsapp_id=whatsapp_id)
    _identity_attach(contact, kind, value, scope)
    _contact_fill(contact, whatsapp_id=whatsapp_id, phone=phone, profile_name=profile_name)
    return contact, False


def contact_upsert_whatsapp(*, whatsapp_id: str, phone: str, profile_name: str = "") -> Contact:
    return contact_upsert_identity(
        kind=ContactIdentity.Kind.WHATSAPP, value=whatsapp_id, phone=phone, profile_name=profile_name
    )


def contact_for_channel(
    *, channel: Channel, user_id: str, phone: str = "", profile_name: str = ""
) -> Contact:
    """The contact behind a provider's user id on this channel (wa_id, phone, PSID or IGSID)."""
    kind = channel.capabilities.identity_kind
    return contact_upsert_identity(
        kind=kind, value=user_id, scope=channel.external_id, phone=phone, profile_name=profile_name
    )


def contact_recipient(*, contact: Contact, channel: Channel) -> str:
    """Who to address on this channel: the phone (WhatsApp, SMS) or the scoped id (Messenger, Instagram)."""
    kind = channel.capabilities.identity_kind
    if kind in UNSCOPED_IDENTITIES:
        return contact.phone or (f"+{contact.whatsapp_id}" if contact.whatsapp_id else "")
    identity = contact.identities.filter(kind=kind, scope=channel.external_id).first()
    return identity.value if identity else ""


def contact_profile_refresh(*, contact_id: int, channel_id: int) -> Contact | None:
    """Fill the contact's name and picture from the provider's profile API (Messenger, Instagram)."""
    from channels_wa.providers.base import ProviderRequestError
    from channels_wa.providers.registry import provider_for

    contact = Contact.objects.filter(pk=contact_id).first()
    channel = Channel.objects.filter(pk=channel_id).first()
    if contact is None or channel is None:
        return None
    user_id = contact_recipient(contact=contact, channel=channel)
    if not user_id:
        return contact
    provider = provider_for(channel)
    try:
        profile = provider.fetch_profile(user_id)
    except ProviderRequestError:
        return contact
    finally:
        provider.close()
    changed = []
    if profile.name and contact.profile_name != profile.name:
        contact.profile_name = profile.name
        changed.append("profile_name")
    if profile.picture_url and contact.avatar_url != profile.picture_url:
        contact.avatar_url = profile.picture_url[:1000]
        changed.append("avatar_url")
    if changed:
        with transaction.atomic():
            contact.save(update_fields=[*changed, "updated_at"])
            emit_contact("contact.updated", contact)
    return contact


def _contact_opt_out(contact_id: int) -> None:
    contact = Contact.objects.filter(pk=contact_id, is_opted_out=False).first()
    if contact is not None:
        contact.is_opted_out = True
        contact.save(update_fields=["is_opted_out", "updated_at"])
        emit_contact("contact.updated", contact)


def _conversation_for_inbound(*, contact: Contact, channel: Channel) -> tuple[Conversation, bool]:
    """The contact's active conversation on this channel, a resolved one reopened, or a new one."""
    active = (
        Conversation.objects.select_for_update()
        .filter(contact=contact, channel=channel)
        .exclude(status=Conversation.Status.RESOLVED)
        .first()
    )
    if active is not None:
        return active, False
    latest = (
        Conversation.objects.select_for_update()
        .filter(contact=contact, channel=channel)
        .order_by("-last_message_at", "-id")
        .first()
    )
    if latest is not None:
        latest.status = Conversation.Status.OPEN
        latest.snoozed_until = None
        return latest, False
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                contact=contact, channel=channel, department_id=channel.default_department_id
            ), True
    except IntegrityError:  # another worker opened it first
        return Conversation.objects.select_for_update().get(
            contact=contact, channel=channel, status__in=["open", "pending", "snoozed"]
        ), False


def inbound_message_receive(*, channel: Channel, event: InboundMessage) -> Message | None:
    """Store a customer's message once; a second delivery of the same provider id changes nothing
    (the unique constraint on (channel, provider id) decides, so concurrent workers agree)."""
    if event.is_echo:
        return _echo_receive(channel=channel, event=event)
    contact = contact_for_channel(
        channel=channel, user_id=event.from_id, phone=event.from_phone, profile_name=event.profile_name
    )
    if event.is_opt_out:
        _contact_opt_out(contact.id)
    elif event.is_opt_in and contact.is_opted_out:
        contact.is_opted_out = False
        contact.save(update_fields=["is_opted_out", "updated_at"])
        emit_contact("contact.updated", contact)
    if (
        not contact.profile_name
        and not contact.name
        and channel.capabilities.identity_kind not in (UNSCOPED_IDENTITIES)
    ):
        from inbox.tasks import refresh_contact_profile

        enqueue_on_commit(refresh_contact_profile, contact.id, channel.id)
    with transaction.atomic():
        conversation, is_new = _conversation_for_inbound(contact=contact, channel=channel)
        payload = {}
        if event.location:
            payload["location"] = {
                "latitude": event.location.latitude,
                "longitude": event.location.longitude,
                "name": event.location.name,
                "address": event.location.address,
            }
        if event.contacts:
            payload["contacts"] = event.contacts
        if event.reply_id:
            payload["reply_id"] = event.reply_id
        if event.reaction_to:
            payload["reaction_to"] = event.reaction_to
        if event.media and (event.media.filename or event.media.caption):
            payload["media"] = {"filename": event.media.filename, "caption": event.media.caption}
        if event.errors:
            payload["errors"] = [{"code": e.code, "title": e.title, "detail": e.detail} for e in event.errors]
        if event.raw.get("story_reply"):
            payload["story_reply"] = event.raw["story_reply"]
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    channel=channel,
                    direction=Message.Direction.INBOUND,
                    kind=event.kind,
                    body=event.text or (event.media.caption if event.media else ""),
                    payload=payload,
                    provider_message_id=event.provider_message_id,
                    reply_to_provider_id=event.reply_to,
                    status=Message.Status.RECEIVED,
                    sender_kind=Message.SenderKind.CONTACT,
                    raw=dict(event.raw),
                    media_provider_id=event.media.media_id if event.media else "",
                    media_mime_type=event.media.mime_type if event.media else "",
                    media_sha256=event.media.sha256 if event.media else "",
                    provider_timestamp=event.timestamp,
                )
        except IntegrityError:  # the same message, stored meanwhile from another delivery
            return None
        received_at = max(event.timestamp, conversation.last_inbound_at or event.timestamp)
        conversation.last_inbound_at = received_at
        conversation.window_expires_at = received_at + WINDOW
        conversation.last_message_at = message.created_at
        conversation.last_message_preview = _preview(message)
        if conversation.status == Conversation.Status.SNOOZED:
            conversation.status, conversation.snoozed_until = Conversation.Status.OPEN, None
        conversation.unread_count += 1  # the row is locked (select_for_update) until commit
        conversation.save(
            update_fields=[
                "last_inbound_at",
                "window_expires_at",
                "last_message_at",
                "last_message_preview",
                "status",
                "snoozed_until",
                "unread_count",
                "updated_at",
            ]
        )
        emit_message("message.created", message)
        emit_conversation("conversation.created" if is_new else "conversation.updated", conversation)
        from campaigns.optout import inbound_message_observe

        inbound_message_observe(message=message, contact=contact, is_opted_out_by_provider=event.is_opt_out)
        if event.media and event.media.media_id:
            from channels_wa.tasks import fetch_inbound_media

            enqueue_on_commit(fetch_inbound_media, message.id)
        from automation.tasks import process_inbound

        enqueue_on_commit(process_inbound, message.id)
    return message


def _echo_receive(*, channel: Channel, event: InboundMessage) -> Message | None:
    """A message the business sent from elsewhere (the page inbox, the Instagram app): shown as outbound,
    once. The echo of our own send carries our message id (metadata) and changes nothing."""
    if event.echo_ref.isdigit() and Message.objects.filter(pk=int(event.echo_ref), channel=channel).exists():
        return None
    if Message.objects.filter(channel=channel, provider_message_id=event.provider_message_id).exists():
        return None
    contact = contact_for_channel(channel=channel, user_id=event.from_id)
    # An echo without our id (Instagram) can overtake our own send's response: the same text still
    # being sent to this person is ours.
    if Message.objects.filter(
        channel=channel,
        conversation__contact=contact,
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        body=event.text,
    ).exists():
        return None
    with transaction.atomic():
        conversation, is_new = _conversation_for_inbound(contact=contact, channel=channel)
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    channel=channel,
                    direction=Message.Direction.OUTBOUND,
                    kind=event.kind,
                    body=event.text,
                    provider_message_id=event.provider_message_id,
                    status=Message.Status.SENT,
                    sender_kind=Message.SenderKind.EXTERNAL,
                    raw=dict(event.raw),
                    media_provider_id=event.media.media_id if event.media else "",
                    provider_timestamp=event.timestamp,
                    sent_at=event.timestamp,
                )
        except IntegrityError:
            return None
        conversation.last_message_at = message.created_at
        conversation.last_message_preview = _preview(message)
        conversation.save(
            update_fields=["last_message_at", "last_message_preview", "status", "snoozed_until", "updated_at"]
        )
        emit_message("message.created", message)
        emit_conversation("conversation.created" if is_new else "conversation.updated", conversation)
    return message


def _apply_status(message: Message, status: str, occurred_at: datetime, error: ProviderError | None) -> bool:
    """Move a message's status forward only: read may come before delivered, failed keeps its error."""
    if message.status == Message.Status.FAILED:
        return False
    if status == "failed":
        if message.status in (Message.Status.DELIVERED, Message.Status.READ):
            return False
        message.status, message.failed_at = Message.Status.FAILED, occurred_at
        if error:
            message.error_code, message.error_title, message.error_detail = (
                error.code,
                error.title,
                error.detail,
            )
        return True
    if status not in STATUS_RANK or status in ("queued", "sending"):
        return False
    stamp_field = f"{status}_at"
    changed = False
    if getattr(message, stamp_field) is None:
        setattr(message, stamp_field, occurred_at)
        changed = True
    if STATUS_RANK[status] > STATUS_RANK.get(message.status, 0):
        message.status = status
        changed = True
    return changed


def _lock_provider_id(channel_id: int, provider_message_id: str) -> None:
    """Serialise a send's outcome and the statuses of one provider id: the later commit sees the other."""
    _lock_provider_ids(channel_id, [provider_message_id])


def _lock_provider_ids(channel_id: int, provider_message_ids: list[str]) -> None:
    """`_lock_provider_id` for several (a batch's sends), taken in one order so two batches never deadlock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k ORDER BY k",
            [[f"{connection.schema_name}:{channel_id}:{p}" for p in provider_message_ids]],
        )


def _status_apply_watermark(*, channel: Channel, update: StatusUpdate) -> None:
    """Messenger: everything sent to this person before the watermark is delivered / read."""
    kind = channel.capabilities.identity_kind
    identity = ContactIdentity.objects.filter(
        kind=kind, scope=channel.external_id, value=update.recipient_id
    ).first()
    if identity is None:
        return
    with transaction.atomic():
        messages = Message.objects.select_for_update().filter(
            channel=channel,
            conversation__contact_id=identity.contact_id,
            direction=Message.Direction.OUTBOUND,
            status__in=[Message.Status.SENT, Message.Status.DELIVERED],
            sent_at__lte=update.watermark,
        )
        for message in messages:
            if _apply_status(message, update.status, update.timestamp, None):
                message.save()
                emit_message("message.updated", message)


def message_status_apply(*, channel: Channel, update: StatusUpdate) -> Message | None:
    if update.watermark is not None and not update.provider_message_id:
        _status_apply_watermark(channel=channel, update=update)
        return None
    if update.error is not None and update.error.is_opt_out:
        contact_id = (
            Message.objects.filter(channel=channel, provider_message_id=update.provider_message_id)
            .values_list("conversation__contact_id", flat=True)
            .first()
        )
        if contact_id:
            _contact_opt_out(contact_id)
    with transaction.atomic():
        _lock_provider_id(channel.id, update.provider_message_id)
        message = (
            Message.objects.select_for_update()
            .filter(channel=channel, provider_message_id=update.provider_message_id)
            .first()
        )
        if message is None:
            # The status beat the send's own response (or the message is not ours yet): keep it.
            PendingStatus.objects.create(
                channel=channel,
                provider_message_id=update.provider_message_id,
                status=update.status,
                error_code=update.error.code if update.error else "",
                error_title=update.error.title if update.error else "",
                error_detail=update.error.detail if update.error else "",
                occurred_at=update.timestamp,
            )
            return None
        if _apply_status(message, update.status, update.timestamp, update.error):
            message.save()
            emit_message("message.updated", message)
    return message


def _apply_pending_statuses(message: Message) -> None:
    pending = list(
        PendingStatus.objects.filter(
            channel_id=message.channel_id, provider_message_id=message.provider_message_id
        ).order_by("occurred_at", "id")
    )
    for item in pending:
        error = (
            ProviderError(code=item.error_code, title=item.error_title, detail=item.error_detail)
            if item.error_code
            else None
        )
        _apply_status(message, item.status, item.occurred_at, error)
    if pending:
        PendingStatus.objects.filter(id__in=[p.id for p in pending]).delete()


def _validate_outbound(*, kind: str, text: str, payload: dict | None) -> None:
    if kind == base.TEXT:
        if not text.strip():
            raise ValidationFailed("The message is empty.", code="empty_message")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValidationFailed(
                f"Text messages are limited to {MAX_TEXT_LENGTH} characters.",
                code="text_too_long",
                details={"length": len(text), "max": MAX_TEXT_LENGTH},
            )
    if kind in base.MEDIA_KINDS and not ((payload or {}).get("media_id") or (payload or {}).get("link")):
        raise ValidationFailed("A media message needs an uploaded file or a link.", code="media_required")
    if kind == base.TEMPLATE and not (payload or {}).get("name"):
        raise ValidationFailed(
            "A template message needs the template's name and language.", code="template_required"
        )


def _validate_for_channel(*, channel: Channel, kind: str, text: str, payload: dict | None) -> None:
    _validate_outbound(kind=kind, text=text, payload=payload)
    if kind == base.TEMPLATE and not channel.capabilities.supports_templates:
        raise ValidationFailed(
            f"{channel.get_provider_display()} channels have no message templates.",
            code="templates_not_supported",
        )


def _payload_for_conversation(
    *, conversation: Conversation, kind: str, text: str, payload: dict | None, now: datetime
) -> dict:
    """The payload a message is stored with: its window tag (or refused when the window is closed) and,
    on channels that count them, its segments."""
    channel = conversation.channel
    payload = dict(payload or {})
    tag = _window_tag(conversation=conversation, channel=channel, kind=kind, now=now)
    if tag:
        payload["tag"] = tag
    if channel.capabilities.counts_segments and text:
        payload["segments"] = channel.capabilities.segment_count(text)
    return payload


def _current_plan_messages_per_day() -> int | None:
    """The company's daily quota; a request already has its company (and plan) on the connection."""
    company = getattr(connection, "tenant", None)
    if not isinstance(company, Company) or company.schema_name != connection.schema_name:
        company = Company.objects.select_related("plan").filter(schema_name=connection.schema_name).first()
    return company.plan.messages_per_day if company and company.plan else None


def _window_tag(*, conversation: Conversation, channel: Channel, kind: str, now: datetime) -> str:
    """ "" when the channel lets this message go now, HUMAN_AGENT when only that tag does; else refused."""
    capabilities = channel.capabilities
    if not capabilities.has_window:
        return ""
    if conversation.window_expires_at is not None and conversation.window_expires_at > now:
        return ""
    if kind in ALWAYS_ALLOWED_KINDS and capabilities.supports_templates:
        return ""
    human_agent_until = None
    if capabilities.human_agent_window_s and channel.human_agent_tag_enabled and conversation.last_inbound_at:
        human_agent_until = conversation.last_inbound_at + timedelta(
            seconds=capabilities.human_agent_window_s
        )
        if human_agent_until > now:
            return HUMAN_AGENT_TAG
    hours = capabilities.window_s // 3600
    if capabilities.supports_templates:
        advice = "Send an approved template instead."
    elif capabilities.human_agent_window_s and not channel.human_agent_tag_enabled:
        advice = "Enable the human-agent tag on the channel to reply for up to 7 days."
    else:
        advice = "Wait for the customer to write again."
    raise BusinessRuleViolation(
        f"The {hours}-hour customer service window is closed: the customer has not written in the last "
        f"{hours} hours. {advice}",
        code="window_closed",
        details={
            "window_expires_at": conversation.window_expires_at.isoformat()
            if conversation.window_expires_at
            else None,
            "human_agent_until": human_agent_until.isoformat() if human_agent_until else None,
        },
    )


def message_send(
    *,
    conversation: Conversation,
    kind: str = base.TEXT,
    text: str = "",
    payload: dict | None = None,
    sender_kind: str = Message.SenderKind.USER,
    sender_user=None,
    is_delivered_by_caller: bool = False,
) -> Message:
    """Queue a reply; it is sent by a worker after commit. Outside the 24-hour window only templates go
    (or, on Messenger and Instagram where the company enabled it, human-agent replies for 7 days).
    `is_delivered_by_caller`: the caller (a paced campaign dispatcher) calls message_deliver itself."""
    channel = conversation.channel
    _validate_for_channel(channel=channel, kind=kind, text=text, payload=payload)
    payload = _payload_for_conversation(
        conversation=conversation, kind=kind, text=text, payload=payload, now=timezone.now()
    )
    usage_message_consume(messages_per_day=_current_plan_messages_per_day())
    with transaction.atomic(savepoint=False):  # inside a caller's transaction this joins it
        message = Message(
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=Message.Direction.OUTBOUND,
            kind=kind,
            body=text,
            payload=payload,
            status=Message.Status.QUEUED,
            sender_kind=sender_kind,
            media_provider_id=payload.get("media_id", ""),
            sender_user=sender_user,
        )
        _message_insert_with_activity(message=message, conversation=conversation)
        emit_message("message.created", message)
        emit_conversation("conversation.updated", conversation, is_activity_only=True)
        if not is_delivered_by_caller:
            from inbox.tasks import deliver_message

            enqueue_on_commit(deliver_message, message.id)
    return message


_MESSAGE_INSERT = ModelInsert(Message)
_ACTIVITY_FIELDS = [
    Conversation._meta.get_field(name)
    for name in ("last_message_at", "last_message_preview", "unread_count", "updated_at")
]
_MESSAGE_WITH_ACTIVITY = (
    f"WITH inserted AS ({_MESSAGE_INSERT.sql}) "
    f'UPDATE "{Conversation._meta.db_table}" SET '
    + ", ".join(f'"{field.column}" = %s' for field in _ACTIVITY_FIELDS)
    + ' WHERE "id" = %s RETURNING (SELECT "id" FROM inserted)'
)


def _message_insert_with_activity(*, message: Message, conversation: Conversation) -> None:
    """Save the new message and its conversation's last activity (as message.save() and
    conversation.save(update_fields=...) would) in one statement instead of two ORM saves."""
    conversation.last_message_preview = _preview(message)
    conversation.unread_count = 0
    params = _MESSAGE_INSERT.params(message, connection)
    conversation.last_message_at = message.created_at
    activity = [
        field.get_db_prep_save(field.pre_save(conversation, False), connection) for field in _ACTIVITY_FIELDS
    ]
    with connection.cursor() as cursor:
        cursor.execute(_MESSAGE_WITH_ACTIVITY, [*params, *activity, conversation.pk])
        row = cursor.fetchone()
    if row is None:
        raise DatabaseError("Save with update_fields did not affect any rows.")  # the conversation is gone
    ModelInsert.saved(message, row[0], connection)


def message_send_to_phone(
    *,
    channel: Channel,
    phone: str,
    kind: str = base.TEXT,
    text: str = "",
    payload: dict | None = None,
    sender_kind: str = Message.SenderKind.API,
    sender_user=None,
    is_delivered_by_caller: bool = False,
) -> Message:
    """Send to a phone number (WhatsApp, SMS) or a page-scoped id (Messenger, Instagram) on a channel,
    creating the contact and conversation when needed."""
    from channels_wa.services import phone_normalize

    is_phone = channel.capabilities.identity_kind in UNSCOPED_IDENTITIES
    if is_phone:
        recipient = phone_normalize(phone)
    elif phone.strip().isdigit():
        recipient = phone.strip()
    else:
        raise ValidationFailed(
            f"{channel.get_provider_display()} recipients are the customer's page-scoped id (digits).",
            code="invalid_recipient",
            details={"to": phone},
        )
    _validate_outbound(kind=kind, text=text, payload=payload)
    if is_phone:
        is_whatsapp = channel.capabilities.identity_kind == ContactIdentity.Kind.WHATSAPP
        user_id, contact_phone = (recipient.lstrip("+") if is_whatsapp else recipient), recipient
    else:
        user_id, contact_phone = recipient, ""
    with transaction.atomic():  # a refused send (closed window, quota) leaves no contact behind
        contact, conversation = _known_recipient(channel=channel, user_id=user_id, phone=contact_phone)
        if contact is None:
            contact, is_created = _contact_upsert(
                kind=channel.capabilities.identity_kind,
                value=user_id,
                scope=channel.external_id,
                phone=contact_phone,
                is_identity_unknown=True,
            )
            if is_created:  # nobody else can see it yet: it has no conversation, and none can race ours
                conversation = _conversation_create(contact=contact, channel=channel)
        return _send_to_contact(
            channel=channel,
            contact=contact,
            conversation=conversation,
            kind=kind,
            text=text,
            payload=payload,
            sender_kind=sender_kind,
            sender_user=sender_user,
            is_delivered_by_caller=is_delivered_by_caller,
        )


def _known_recipient(
    *, channel: Channel, user_id: str, phone: str
) -> tuple[Contact | None, Conversation | None]:
    """What contact_for_channel and _open_conversation find for a recipient already known on this kind of
    channel, in one query; (None, None) for a new one."""
    kind = channel.capabilities.identity_kind
    scope = "" if kind in UNSCOPED_IDENTITIES else channel.external_id
    found = contact_with_open_conversation(kind=kind, scope=scope, value=user_id, channel_id=channel.id)
    if found is None:
        return None, None
    contact, conversation = found
    _contact_fill(contact, whatsapp_id=user_id if kind == ContactIdentity.Kind.WHATSAPP else "", phone=phone)
    if conversation is not None:
        conversation.channel = channel
    return contact, conversation


def _send_to_contact(
    *,
    channel: Channel,
    contact: Contact,
    kind: str,
    text: str,
    payload: dict | None,
    sender_kind: str,
    sender_user,
    is_delivered_by_caller: bool = False,
    conversation: Conversation | None = None,
) -> Message:
    conversation = conversation or _open_conversation(contact=contact, channel=channel)
    return message_send(
        conversation=conversation,
        kind=kind,
        text=text,
        payload=payload,
        sender_kind=sender_kind,
        sender_user=sender_user,
        is_delivered_by_caller=is_delivered_by_caller,
    )


def _open_conversation(*, contact: Contact, channel: Channel) -> Conversation:
    """The contact's unresolved conversation on the channel, created when there is none."""
    conversation = (
        Conversation.objects.filter(contact=contact, channel=channel)
        .exclude(status=Conversation.Status.RESOLVED)
        .first()
    )
    if conversation is not None:
        conversation.channel = channel  # the send reads its rules; no second query for the row
        return conversation
    try:
        with transaction.atomic():
            return _conversation_create(contact=contact, channel=channel)
    except IntegrityError:
        return Conversation.objects.exclude(status=Conversation.Status.RESOLVED).get(
            contact=contact, channel=channel
        )


def _conversation_create(*, contact: Contact, channel: Channel) -> Conversation:
    conversation = Conversation.objects.create(
        contact=contact, channel=channel, department_id=channel.default_department_id
    )
    emit_conversation("conversation.created", conversation)
    return conversation


def _outbound(message: Message) -> base.OutboundMessage:
    contact = message.conversation.contact
    payload = message.payload or {}
    outbound = base.OutboundMessage(
        to=contact_recipient(contact=contact, channel=message.channel),
        kind=message.kind,
        text=message.body,
        client_ref=str(message.id),
        preview_url=bool(payload.get("preview_url")),
        tag=payload.get("tag", ""),
    )
    if message.kind == base.TEMPLATE:
        outbound = replace(
            outbound,
            template=base.TemplateRef(
                name=payload["name"],
                language=payload.get("language", "en"),
                header_params=list(payload.get("header_params", [])),
                body_params=list(payload.get("body_params", [])),
                button_params=[tuple(b) for b in payload.get("button_params", [])],
                header_media=base.MediaRef(link=payload["header_media"]["link"])
                if payload.get("header_media")
                else None,
                header_media_kind=(payload.get("header_media") or {}).get("kind", ""),
            ),
        )
    elif message.kind in base.MEDIA_KINDS:
        outbound = replace(
            outbound,
            media=base.MediaRef(
                link=payload.get("link", ""),
                media_id=message.media_provider_id,
                caption=message.body,
                filename=payload.get("filename", ""),
            ),
        )
    elif message.kind == base.REACTION:
        outbound = replace(outbound, reaction_to=payload.get("reaction_to", ""))
    return outbound


# A provider holding a send back to keep the number safe (QR sessions: daily cap, quiet hours): not a
# failure, so it never uses up the message's attempts.
PACED = "paced"


class DeliveryOutcome:
    SENT, FAILED, RETRY, SKIPPED = "sent", "failed", "retry", "skipped"


def message_deliver(
    *, message_id: int, is_last_attempt: bool = False, provider: base.Provider | None = None
) -> tuple[str, ProviderError | None]:
    """Hand one queued message to its provider. Claiming the row first means that two workers (or a
    redelivered task) can never both send it. A caller sending many (a campaign dispatcher) passes its own
    `provider`, so one pooled connection serves them all; it stays open."""
    from channels_wa.providers.registry import provider_for

    claimed = Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING, send_attempts=F("send_attempts") + 1
    )
    if not claimed:
        return DeliveryOutcome.SKIPPED, None
    message = Message.objects.select_related("conversation__contact", "channel").get(pk=message_id)
    is_own_provider = provider is None
    provider = provider or provider_for(message.channel)
    try:
        result = provider.send(_outbound(message))
    finally:
        if is_own_provider:
            provider.close()
    return message_delivery_record(
        message_id=message_id, channel_id=message.channel_id, result=result, is_last_attempt=is_last_attempt
    )


def message_delivery_record(
    *, message_id: int, channel_id: int, result: base.SendResult, is_last_attempt: bool = False
) -> tuple[str, ProviderError | None]:
    """Record what the provider answered for one message that was `sending`."""
    with transaction.atomic():
        if result.is_ok:
            _lock_provider_id(channel_id, result.provider_message_id)
        message = Message.objects.select_for_update().select_related("conversation").get(pk=message_id)
        if result.is_ok:
            message.status, message.provider_message_id = Message.Status.SENT, result.provider_message_id
            if result.raw.get("num_segments"):
                message.payload = {**message.payload, "segments": result.raw["num_segments"]}
            message.sent_at = message.sent_at or timezone.now()
            _apply_pending_statuses(message)
            outcome = DeliveryOutcome.SENT
        elif result.error.is_transient and (not is_last_attempt or result.error.code == PACED):
            message.status = Message.Status.QUEUED
            message.error_code, message.error_title = result.error.code, result.error.title
            message.save(update_fields=["status", "error_code", "error_title"])
            return DeliveryOutcome.RETRY, result.error
        else:
            message.status, message.failed_at = Message.Status.FAILED, timezone.now()
            message.error_code, message.error_title = result.error.code, result.error.title
            message.error_detail = result.error.detail
            outcome = DeliveryOutcome.FAILED
            if result.error.is_opt_out:
                _contact_opt_out(message.conversation.contact_id)
        if outcome == DeliveryOutcome.SENT:
            message.error_code = message.error_title = ""
        message.save()
        emit_message("message.updated", message)
    return outcome, result.error


def conversation_assign(
    *, conversation: Conversation, assignee=None, department_id: int | None = None
) -> Conversation:
    conversation.assignee = assignee
    if department_id is not None:
        conversation.department_id = department_id
    conversation.save(update_fields=["assignee", "department", "updated_at"])
    emit_conversation("conversation.updated", conversation)
    return conversation


def _change_status(conversation: Conversation, status: str, snoozed_until: datetime | None) -> None:
    if status not in Conversation.Status.values:
        raise ValidationFailed(f"Unknown conversation status {status!r}.", code="invalid_status")
    if status == Conversation.Status.SNOOZED and snoozed_until is None:
        raise ValidationFailed("Snoozing needs a time to wake up.", code="snooze_until_required")
    if status != Conversation.Status.RESOLVED and conversation.status == Conversation.Status.RESOLVED:
        others = (
            Conversation.objects.filter(
                contact_id=conversation.contact_id, channel_id=conversation.channel_id
            )
            .exclude(status=Conversation.Status.RESOLVED)
            .exclude(pk=conversation.pk)
        )
        if others.exists():
            raise BusinessRuleViolation(
                "This contact already has an open conversation on this channel.",
                code="conversation_already_open",
            )
    conversation.status = status
    conversation.snoozed_until = snoozed_until if status == Conversation.Status.SNOOZED else None


def conversation_set_status(
    *, conversation: Conversation, status: str, snoozed_until: datetime | None = None
) -> Conversation:
    _change_status(conversation, status, snoozed_until)
    conversation.save(update_fields=["status", "snoozed_until", "updated_at"])
    emit_conversation("conversation.updated", conversation)
    return conversation


UNSET = object()


def conversation_update(
    *,
    conversation: Conversation,
    status: str | None = None,
    snoozed_until: datetime | None = None,
    assignee_id=UNSET,
    department_id=UNSET,
    labels: list[str] | None = None,
    priority: str | None = None,
) -> Conversation:
    """Change several things at once (the API's PATCH); one conversation.updated event."""
    from accounts.models import Department, User

    with transaction.atomic():
        if status is not None:
            _change_status(conversation, status, snoozed_until)
        if assignee_id is not UNSET:
            if assignee_id is not None and not User.objects.filter(pk=assignee_id, is_active=True).exists():
                raise ValidationFailed("No such active user in this company.", code="unknown_assignee")
            conversation.assignee_id = assignee_id
        if department_id is not UNSET:
            if department_id is not None and not Department.objects.filter(pk=department_id).exists():
                raise ValidationFailed("No such department in this company.", code="unknown_department")
            conversation.department_id = department_id
        if priority is not None:
            conversation.priority = priority
        conversation.save()
        if labels is not None:
            conversation.labels.set([Label.objects.get_or_create(name=name)[0] for name in labels])
        emit_conversation("conversation.updated", conversation)
    return conversation


def conversation_label(
    *, conversation: Conversation, add: list[str] = (), remove: list[str] = ()
) -> Conversation:
    for name in add:
        conversation.labels.add(Label.objects.get_or_create(name=name)[0])
    if remove:
        conversation.labels.remove(*Label.objects.filter(name__in=remove))
    conversation.save(update_fields=["updated_at"])
    emit_conversation("conversation.updated", conversation)
    return conversation


def conversation_mark_read(*, conversation: Conversation) -> Conversation:
    """Staff opened the conversation: clear its unread count and send the customer blue ticks."""
    last_inbound = (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .exclude(provider_message_id=None)
        .order_by("-created_at", "-id")
        .first()
    )
    conversation.unread_count = 0
    conversation.save(update_fields=["unread_count", "updated_at"])
    emit_conversation("conversation.updated", conversation)
    if last_inbound is not None:
        from inbox.tasks import send_read_receipt

        enqueue_on_commit(send_read_receipt, last_inbound.id)
    return conversation


def note_create(*, conversation: Conversation, author, body: str) -> Note:
    if not body.strip():
        raise ValidationFailed("The note is empty.", code="empty_note")
    return Note.objects.create(conversation=conversation, author=author, body=body)
