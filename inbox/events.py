"""Payloads of the inbox's realtime events (types and required keys are declared in core.realtime), and
the outbound webhook events (automation.services.WEBHOOK_EVENT_TYPES) emitted with them."""

from __future__ import annotations

from automation.services import webhook_event_emit, webhook_events_emit
from core.realtime import broadcast_on_commit
from inbox.models import Contact, Conversation, Message

# Outbound message statuses that customers' webhooks hear about as message.status.
WEBHOOK_REPORTED_STATUSES = frozenset({"delivered", "read", "failed"})


def message_payload(message: Message) -> dict:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "channel_id": message.channel_id,
        "direction": message.direction,
        "kind": message.kind,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "error_title": message.error_title,
        "sender_kind": message.sender_kind,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def conversation_payload(conversation: Conversation) -> dict:
    return {
        "id": conversation.id,
        "contact_id": conversation.contact_id,
        "channel_id": conversation.channel_id,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "department_id": conversation.department_id,
        "unread_count": conversation.unread_count,
        "last_message_preview": conversation.last_message_preview,
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "window_expires_at": (
            conversation.window_expires_at.isoformat() if conversation.window_expires_at else None
        ),
    }


def contact_payload(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "phone": contact.phone,
        "whatsapp_id": contact.whatsapp_id,
        "name": contact.name,
        "profile_name": contact.profile_name,
        "tags": list(contact.tags),
        "is_opted_out": contact.is_opted_out,
        "created_at": contact.created_at.isoformat() if contact.created_at else None,
    }


def _message_webhook_event(event_type: str, message: Message) -> str | None:
    if event_type == "message.created" and message.direction == Message.Direction.INBOUND:
        return "message.received"
    if event_type == "message.updated" and message.direction == Message.Direction.OUTBOUND:
        if message.status == Message.Status.SENT:
            return "message.sent"
        if message.status in WEBHOOK_REPORTED_STATUSES:
            return "message.status"
    return None


def emit_message(event_type: str, message: Message) -> None:
    emit_messages(event_type, [message])


def emit_messages(event_type: str, messages: list[Message]) -> None:
    """`emit_message` for a batch: the webhook events of the batch are recorded with one lookup."""
    by_webhook_type: dict[str, list[dict]] = {}
    for message in messages:
        payload = message_payload(message)
        broadcast_on_commit(event_type, payload)
        webhook_event_type = _message_webhook_event(event_type, message)
        if webhook_event_type:
            by_webhook_type.setdefault(webhook_event_type, []).append(payload)
    for webhook_event_type, datas in by_webhook_type.items():
        webhook_events_emit(event_type=webhook_event_type, datas=datas)


def emit_conversation(event_type: str, conversation: Conversation, *, is_activity_only: bool = False) -> None:
    """`is_activity_only`: only the last message changed; the dashboard hears it, while webhook receivers
    already get message.sent / message.received for it and no conversation.updated."""
    payload = conversation_payload(conversation)
    broadcast_on_commit(event_type, payload)
    if is_activity_only:
        return
    webhook_event_emit(event_type=event_type, data=payload)
    if event_type == "conversation.updated" and conversation.status == Conversation.Status.RESOLVED:
        webhook_event_emit(event_type="conversation.resolved", data=payload)


def emit_contact(event_type: str, contact: Contact) -> None:
    """contact.created / contact.updated: outbound webhooks only (the dashboard has no contact events)."""
    webhook_event_emit(event_type=event_type, data=contact_payload(contact))
