"""Reads of the outbound-webhook tables of the current company (its schema)."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from automation.models import WebhookDelivery, WebhookEndpoint
from core.errors import NotFound

# Every event a service emits (each message sent or received, each new contact or conversation) asks which
# endpoints hear it; as an ORM query that cost ~250 µs of CPU, most of it building and compiling the query.
_SUBSCRIBED_ENDPOINT_IDS = (
    f'SELECT "id" FROM "{WebhookEndpoint._meta.db_table}" '
    """WHERE "is_active" AND ("events" = '{}' OR "events" @> ARRAY[%s]::varchar(40)[]) """
    'ORDER BY "created_at", "id"'
)


def webhook_endpoint_ids_subscribed(*, event_type: str) -> list[int]:
    """The active endpoints that hear this event type (those with no event list hear every type)."""
    with connection.cursor() as cursor:
        cursor.execute(_SUBSCRIBED_ENDPOINT_IDS, [event_type])
        return [endpoint_id for (endpoint_id,) in cursor.fetchall()]


def webhook_endpoint_list() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("created_at", "id")


def webhook_endpoint_get(*, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.", code="webhook_endpoint_not_found")
    return endpoint


def webhook_delivery_list(
    *, endpoint: WebhookEndpoint | None = None, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    """Newest first."""
    deliveries = WebhookDelivery.objects.order_by("-created_at", "-id")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries


def webhook_delivery_get(*, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    try:
        delivery_id = uuid.UUID(str(delivery_id))
    except ValueError as exc:
        raise NotFound("No such webhook delivery.", code="webhook_delivery_not_found") from exc
    delivery = WebhookDelivery.objects.filter(delivery_id=delivery_id).first()
    if delivery is None:
        raise NotFound("No such webhook delivery.", code="webhook_delivery_not_found")
    return delivery


def webhook_deliveries_due(*, limit: int = 500) -> list[str]:
    """Ids of deliveries whose attempt is due, or whose worker's claim expired (it died mid-send)."""
    return [
        str(delivery_id)
        for delivery_id in WebhookDelivery.objects.filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("delivery_id", flat=True)[:limit]
    ]
