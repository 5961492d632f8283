"""Reads of the inbox that more than one entry point needs."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from inbox.models import Conversation


def conversation_list(
    *,
    status: str = "",
    channel_id: int | None = None,
    assignee_id: int | None = None,
    department_id: int | None = None,
    label: str = "",
    updated_since: datetime | None = None,
) -> QuerySet[Conversation]:
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
