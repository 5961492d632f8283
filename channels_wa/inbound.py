"""Processing of stored webhook deliveries: parse, route each event to its company, apply it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from channels_wa.providers.base import InboundEvent, InboundMessage, StatusUpdate, WebhookError
from channels_wa.providers.registry import ROUTE_KIND, parser_for
from core.localcache import TTLCache
from tenants.models import ChannelRoute, WebhookEvent

logger = logging.getLogger(__name__)


def _apply_message(channel, event: InboundMessage) -> None:
    from inbox.services import inbound_message_receive

    inbound_message_receive(channel=channel, event=event)


def _apply_status(channel, event: StatusUpdate) -> None:
    from inbox.services import message_status_apply

    message_status_apply(channel=channel, update=event)


def _apply_error(channel, event: WebhookError) -> None:
    from channels_wa.services import channel_set_status

    channel_set_status(
        channel=channel,
        status=channel.Status.ERROR,
        error=f"{event.error.code}: {event.error.title} {event.error.detail}".strip(),
    )


HANDLERS: dict[type, Callable] = {
    InboundMessage: _apply_message,
    StatusUpdate: _apply_status,
    WebhookError: _apply_error,
}


# (route kind, external id) → (schema, channel id): every event of a busy number needs it.
routes = TTLCache(ttl_s=settings.TENANT_CACHE_SECONDS)


def _route(event: WebhookEvent, external_id: str) -> tuple[str, int] | None:
    """(schema, channel id) for an event: the channel URL it came in on, else the public route table."""
    if event.channel_id and event.company_id:
        return event.company.schema_name, event.channel_id
    key = (ROUTE_KIND.get(event.provider, event.provider), external_id)
    target = routes.get(key)
    if target is None:
        route = (
            ChannelRoute.objects.select_related("company").filter(provider=key[0], external_id=key[1]).first()
        )
        if route is None:
            return None
        target = (route.company.schema_name, route.channel_id)
        routes.set(key, target)
    return target


def webhook_event_process(*, event_id: int) -> str | None:
    """Apply one stored delivery exactly once. A broken payload marks the event failed, never the worker."""
    from channels_wa.models import Channel

    with schema_context(get_public_schema_name()), transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("company")
            .filter(pk=event_id, status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED])
            .first()
        )
        if event is None:
            return None
        event.attempts += 1
        unrouted: list[str] = []
        try:
            events: list[InboundEvent] = parser_for(event.provider).parse_webhook(
                event.body.encode(), event.headers
            )
            for item in events:
                target = _route(event, item.external_id)
                if target is None:
                    unrouted.append(item.external_id)
                    continue
                schema, channel_id = target
                with schema_context(schema), transaction.atomic():
                    channel = Channel.objects.filter(pk=channel_id).first()
                    if channel is None:
                        unrouted.append(item.external_id)
                        continue
                    HANDLERS[type(item)](channel, item)
        except Exception as exc:
            logger.warning("webhook event %s failed: %s: %s", event.pk, type(exc).__name__, exc)
            event.status, event.error = WebhookEvent.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        else:
            if unrouted:
                event.status = WebhookEvent.Status.UNROUTED
                event.error = f"No channel for {', '.join(sorted(set(unrouted)))}"
            else:
                event.status, event.error = WebhookEvent.Status.PROCESSED, ""
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
        return event.status


def webhook_events_pending(*, older_than_s: int) -> list[int]:
    """Events still waiting after a while: their task was lost (broker outage) and they are re-enqueued."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    with schema_context(get_public_schema_name()):
        return list(
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("id", flat=True)[:1000]
        )
