"""Sending many messages at once (a campaign dispatcher's batch): the same rules as `message_send` and
`message_deliver` one message at a time, with a handful of queries per batch instead of a dozen per
message. The caller owns pacing and the provider calls."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from channels_wa.models import Channel
from channels_wa.providers import base
from core.errors import LimitExceeded, OmniDeskError
from inbox.events import emit_conversation, emit_messages
from inbox.models import Contact, ContactIdentity, Conversation, Message, PendingStatus
from inbox.services import (
    UNSCOPED_IDENTITIES,
    _apply_pending_statuses,
    _current_plan_messages_per_day,
    _lock_provider_ids,
    _payload_for_conversation,
    _preview,
    _validate_for_channel,
    contact_recipient,
)
from tenants.usage import usage_message_consume


@dataclass(frozen=True)
class BatchSend:
    contact: Contact
    kind: str
    text: str = ""
    payload: dict | None = None


def _identities_attach(channel: Channel, contacts: list[Contact]) -> None:
    """What `contact_for_channel` records for a send to a phone: the number's identity on this kind."""
    kind = channel.capabilities.identity_kind
    if kind not in UNSCOPED_IDENTITIES:
        return
    rows = []
    for contact in contacts:
        phone = contact_recipient(contact=contact, channel=channel)
        if phone:
            value = phone.lstrip("+") if kind == ContactIdentity.Kind.WHATSAPP else phone
            rows.append(ContactIdentity(contact=contact, kind=kind, scope="", value=value))
    ContactIdentity.objects.bulk_create(rows, ignore_conflicts=True)


def _open_conversations(channel: Channel, contacts: list[Contact]) -> dict[int, Conversation]:
    """Each contact's unresolved conversation on the channel, the missing ones created (one insert)."""
    contact_ids = {c.id for c in contacts}

    def current() -> dict[int, Conversation]:
        rows = Conversation.objects.filter(contact_id__in=contact_ids, channel=channel).exclude(
            status=Conversation.Status.RESOLVED
        )
        return {c.contact_id: c for c in rows}

    found = current()
    missing = [c for c in contacts if c.id not in found]
    if missing:
        Conversation.objects.bulk_create(
            [
                Conversation(contact=c, channel=channel, department_id=channel.default_department_id)
                for c in {c.id: c for c in missing}.values()
            ],
            ignore_conflicts=True,  # another worker (or an inbound message) opened one meanwhile
        )
        created = current()
        for contact_id, conversation in created.items():
            if contact_id not in found:
                emit_conversation("conversation.created", conversation)
        found = created
    by_id = {c.id: c for c in contacts}
    for conversation in found.values():
        conversation.channel, conversation.contact = channel, by_id[conversation.contact_id]
    return found


def messages_queue(
    *, channel: Channel, sends: list[BatchSend], sender_kind: str = Message.SenderKind.AUTOMATION
) -> list[Message | OmniDeskError]:
    """Queue one outbound message per send (in the caller's transaction), creating conversations as
    needed; the caller delivers them (`messages_sent_record` / `message_delivery_record`). Each result is
    the queued Message, or the error that refused that one send (closed window, quota, bad content)."""
    results: list[Message | OmniDeskError | None] = [None] * len(sends)
    now = timezone.now()
    valid: list[int] = []
    for i, send in enumerate(sends):
        try:
            _validate_for_channel(channel=channel, kind=send.kind, text=send.text, payload=send.payload)
            valid.append(i)
        except OmniDeskError as exc:
            results[i] = exc
    if not valid:
        return results
    with transaction.atomic(savepoint=False):
        contacts = [sends[i].contact for i in valid]
        _identities_attach(channel, contacts)
        conversations = _open_conversations(channel, contacts)
        payloads: dict[int, dict] = {}
        allowed: list[int] = []
        for i in valid:
            send = sends[i]
            try:
                payloads[i] = _payload_for_conversation(
                    conversation=conversations[send.contact.id],
                    kind=send.kind,
                    text=send.text,
                    payload=send.payload,
                    now=now,
                )
            except OmniDeskError as exc:
                results[i] = exc
                continue
            allowed.append(i)
        allowed = _quota_consume(allowed, results)
        messages = Message.objects.bulk_create(
            [
                Message(
                    conversation=conversations[sends[i].contact.id],
                    channel_id=channel.id,
                    direction=Message.Direction.OUTBOUND,
                    kind=sends[i].kind,
                    body=sends[i].text,
                    payload=payloads[i],
                    status=Message.Status.QUEUED,
                    sender_kind=sender_kind,
                    media_provider_id=payloads[i].get("media_id", ""),
                )
                for i in allowed
            ]
        )
        touched: dict[int, Conversation] = {}
        for i, message in zip(allowed, messages, strict=True):
            message.channel = channel
            conversation = message.conversation
            conversation.last_message_at = message.created_at
            conversation.last_message_preview = _preview(message)
            conversation.unread_count = 0
            conversation.updated_at = now
            touched[conversation.id] = conversation
            results[i] = message
        Conversation.objects.bulk_update(
            touched.values(), ["last_message_at", "last_message_preview", "unread_count", "updated_at"]
        )
        emit_messages("message.created", messages)
        for conversation in touched.values():
            emit_conversation("conversation.updated", conversation, is_activity_only=True)
    return results


def _quota_consume(indexes: list[int], results: list) -> list[int]:
    """The plan's daily quota for the whole batch at once; when it cannot take them all, one by one."""
    messages_per_day = _current_plan_messages_per_day()
    try:
        usage_message_consume(messages_per_day=messages_per_day, count=len(indexes))
        return indexes
    except LimitExceeded:
        allowed = []
        for i in indexes:
            try:
                usage_message_consume(messages_per_day=messages_per_day)
                allowed.append(i)
            except LimitExceeded as exc:
                results[i] = exc
        return allowed


def messages_claim_for_sending(*, message_ids: list[int]) -> set[int]:
    """queued → sending for the messages about to go to the provider; the ones returned are ours to send
    (a message already claimed elsewhere is left alone)."""
    if not message_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_message SET status = 'sending', send_attempts = send_attempts + 1"
            " WHERE id = ANY(%s) AND status = 'queued' RETURNING id",
            [message_ids],
        )
        return {row[0] for row in cursor.fetchall()}


def messages_unclaim(*, message_ids: list[int]) -> None:
    """sending → queued for claimed messages that did not go after all (the channel's pace ran out)."""
    if message_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE inbox_message SET status = 'queued', send_attempts = GREATEST(send_attempts - 1, 0)"
                " WHERE id = ANY(%s) AND status = 'sending'",
                [message_ids],
            )


def messages_sent_record(*, channel: Channel, sent: list[tuple[Message, base.SendResult]]) -> None:
    """Record successful sends (what `message_delivery_record` does for one) in one transaction."""
    if not sent:
        return
    now = timezone.now()
    with transaction.atomic():
        provider_ids = [result.provider_message_id for _, result in sent]
        _lock_provider_ids(channel.id, provider_ids)  # statuses of these ids wait for this commit
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE inbox_message AS m SET status = 'sent', provider_message_id = v.provider_id,"
                " sent_at = COALESCE(m.sent_at, %s), error_code = '', error_title = ''"
                " FROM unnest(%s::bigint[], %s::text[]) AS v(id, provider_id) WHERE m.id = v.id",
                [now, [m.id for m, _ in sent], provider_ids],
            )
        waiting = set(
            PendingStatus.objects.filter(channel_id=channel.id, provider_message_id__in=provider_ids)
            .values_list("provider_message_id", flat=True)
            .distinct()
        )
        for message, result in sent:
            message.status, message.provider_message_id = Message.Status.SENT, result.provider_message_id
            message.sent_at = message.sent_at or now
            message.error_code = message.error_title = ""
            needs_save = False
            if result.raw.get("num_segments"):
                message.payload = {**message.payload, "segments": result.raw["num_segments"]}
                needs_save = True
            if message.provider_message_id in waiting:  # a status beat the send's own response
                _apply_pending_statuses(message)
                needs_save = True
            if needs_save:
                message.save()
        emit_messages("message.updated", [m for m, _ in sent])
