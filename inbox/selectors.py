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
