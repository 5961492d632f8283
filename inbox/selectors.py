"""Reads of the inbox that more than one entry point needs."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from core.rows import ModelColumns
from inbox.models import Contact, ContactIdentity, Conversation


def conversation_list(
    *,
    status: str = "",
    channel_id: int | None = None,
    assignee_id: int | None = None,
    department_id: int | None = None,
    label: str = "",
    updated_since: datetime | None = None,
    conversations: QuerySet[Conversation] | None = None,
) -> QuerySet[Conversation]:
    """`conversations`: the queryset to filter (default: conversations with their contact and labels)."""
    if conversations is None:
        conversations = Conversation.objects.select_related("contact").prefetch_related("labels")
    filters = {
        "status": status,
        "channel_id": channel_id,
        "assignee_id": assignee_id,
        "department_id": department_id,
        "labels__name": label,
        "updated_at__gte": updated_since,
    }
    conversations = conversations.filter(
        **{field: value for field, value in filters.items() if value not in (None, "")}
    )
    return conversations.distinct() if label else conversations


_CONTACT = ModelColumns(Contact, "c")
_CONVERSATION = ModelColumns(Conversation, "v")
# At most one row: an identity is unique per (kind, scope, value), and a contact has at most one
# conversation that is not resolved per channel (uniq_active_conversation).
_CONTACT_AND_OPEN_CONVERSATION = (
    f"SELECT {_CONTACT.sql}, {_CONVERSATION.sql} FROM {ContactIdentity._meta.db_table} i "
    f"JOIN {_CONTACT.table} c ON c.id = i.contact_id "
    f"LEFT JOIN {_CONVERSATION.table} v ON v.contact_id = c.id AND v.channel_id = %s AND v.status <> %s "
    "WHERE i.kind = %s AND i.scope = %s AND i.value = %s"
)


_CONTACT_BY_WHATSAPP_ID_OR_PHONE = (
    f"SELECT {_CONTACT.sql} FROM {_CONTACT.table} c "
    "WHERE c.whatsapp_id = %s OR (c.phone = %s AND c.whatsapp_id = '') "
    "ORDER BY (c.whatsapp_id = %s) DESC, c.id LIMIT 1"
)
_CONTACT_BY_WHATSAPP_ID = f"SELECT {_CONTACT.sql} FROM {_CONTACT.table} c WHERE c.whatsapp_id = %s LIMIT 1"
_CONTACT_BY_PHONE = f"SELECT {_CONTACT.sql} FROM {_CONTACT.table} c WHERE c.phone = %s ORDER BY c.id LIMIT 1"


def contact_by_number(*, whatsapp_id: str, phone: str) -> Contact | None:
    """The contact with this WhatsApp id, else the oldest with this phone (and, when a WhatsApp id is given,
    no other WhatsApp id: that is another person sharing the phone); one plain query (core/rows.py), as a
    send to a new number makes it on every request."""
    if whatsapp_id and phone:
        sql, params = _CONTACT_BY_WHATSAPP_ID_OR_PHONE, [whatsapp_id, phone, whatsapp_id]
    elif whatsapp_id:
        sql, params = _CONTACT_BY_WHATSAPP_ID, [whatsapp_id]
    elif phone:
        sql, params = _CONTACT_BY_PHONE, [phone]
    else:
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return _CONTACT.instance(row, connection) if row is not None else None


def contact_with_open_conversation(
    *, kind: str, scope: str, value: str, channel_id: int
) -> tuple[Contact, Conversation | None] | None:
    """The contact known by this identity and its unresolved conversation on the channel (None when it
    has none), in one query; None when nobody is known by this identity. Sending to a known number
    (the API's common case) reads nothing else."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTACT_AND_OPEN_CONVERSATION, [channel_id, Conversation.Status.RESOLVED, kind, scope, value]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_CONTACT)
    contact = _CONTACT.instance(row[:split], connection)
    if row[split + _CONVERSATION.pk_index] is None:  # no conversation joined
        return contact, None
    conversation = _CONVERSATION.instance(row[split:], connection)
    conversation.contact = contact
    return contact, conversation
