"""Payloads of the inbox's realtime events (types and required keys are declared in core.realtime)."""

from __future__ import annotations

from core.realtime import broadcast_on_commit
from inbox.models import Conversation, Message


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


def emit_message(event_type: str, message: Message) -> None:
    broadcast_on_commit(event_type, message_payload(message))


def emit_conversation(event_type: str, conversation: Conversation) -> None:
    broadcast_on_commit(event_type, conversation_payload(conversation))
