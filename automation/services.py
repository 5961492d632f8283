"""Outbound webhooks to customers' URLs.

An event writes one `WebhookDelivery` row per subscribed endpoint in the caller's transaction (an outbox);
a worker posts it after commit, signed `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, and failed
attempts are retried with exponential backoff and jitter for about a day."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import time
import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from automation.models import WebhookDelivery, WebhookEndpoint
from automation.selectors import webhook_endpoint_ids_subscribed
from core.errors import BusinessRuleViolation, Conflict, ValidationFailed
from core.jobs import enqueue_on_commit
from core.rows import ModelColumns

logger = logging.getLogger(__name__)

WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "message.received",
    "message.sent",
    "message.status",
    "conversation.created",
    "conversation.updated",
    "conversation.resolved",
    "contact.created",
    "contact.updated",
    "campaign.completed",
    "channel.status",
    "automation.triggered",
)

SECRET_PREFIX = "whsec_"
TIMEOUT_S = 10
# Attempt n (1-based) failing waits min(10 s * 2^(n-1), 4.5 h) ±20 %: 16 attempts span about 24 h.
MAX_ATTEMPTS = 16
RETRY_BASE_S = 10
RETRY_CAP_S = 4.5 * 3600
RETRY_JITTER = 0.2
# A claimed delivery whose worker died is claimable again after this (well above the POST timeout).
CLAIM_LEASE_S = 120
MAX_ERROR_LENGTH = 500
USER_AGENT = "OmniDesk-Webhooks/1.0"


class TargetRefused(Exception):
    """The URL points at an address outbound webhooks may not reach (private, loopback, link-local…)."""


class DeliveryOutcome:
    SUCCEEDED, RETRY, FAILED, SKIPPED = "succeeded", "retry", "failed", "skipped"


def retry_delay_s(attempt: int, *, rng: random.Random | None = None) -> float:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    nominal = min(RETRY_BASE_S * 2 ** (attempt - 1), RETRY_CAP_S)
    return nominal * (rng or random).uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-OmniDesk-Signature header value for these bytes."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def webhook_target_check(*, url: str) -> None:
    """Raise TargetRefused unless every address the URL's host resolves to is public (or private targets
    are allowed by settings); an unresolvable host raises OSError."""
    parts = urlsplit(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _refused_address(ip):
            raise TargetRefused(
                f"{host} resolves to {ip}, a private, loopback or link-local address; "
                "webhooks are only sent to public addresses."
            )


def _validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "The webhook URL must be an absolute http:// or https:// URL.",
            code="invalid_webhook_url",
            details={"url": url},
        )
    if parts.username or parts.password:
        raise ValidationFailed(
            "The webhook URL must not contain credentials.", code="invalid_webhook_url", details={"url": url}
        )
    try:
        webhook_target_check(url=url)
    except TargetRefused as exc:
        raise ValidationFailed(str(exc), code="webhook_target_refused", details={"url": url}) from exc
    except OSError as exc:
        raise ValidationFailed(
            f"{parts.hostname} does not resolve.", code="invalid_webhook_url", details={"url": url}
        ) from exc
    return url


def _validate_events(events: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(events) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"Unknown webhook event type(s): {', '.join(unknown)}.",
            code="unknown_event_type",
            details={"unknown": unknown, "known": list(WEBHOOK_EVENT_TYPES)},
        )
    return [event for event in WEBHOOK_EVENT_TYPES if event in set(events)]


def webhook_endpoint_validate(*, url: str, events: list[str]) -> tuple[str, list[str]]:
    """The checks an endpoint's URL and event types must pass; returns them cleaned."""
    return _validate_url(url), _validate_events(events)


def webhook_endpoint_create(
    *, url: str, events: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Subscribe a URL to event types (empty: all). The signing secret is returned here, once."""
    url, events = webhook_endpoint_validate(url=url, events=events)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(url=url, events=events, description=description, secret=secret)
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint; re-enabling it clears the reason it was disabled and its failure count."""
    if url is not None:
        endpoint.url = _validate_url(url)
    if events is not None:
        endpoint.events = _validate_events(events)
    if description is not None:
        endpoint.description = description
    if is_active is True and not endpoint.is_active:
        endpoint.is_active = True
        endpoint.disabled_reason, endpoint.disabled_at, endpoint.consecutive_failures = "", None, 0
    elif is_active is False and endpoint.is_active:
        endpoint.is_active = False
        endpoint.disabled_reason, endpoint.disabled_at = "Disabled by a user.", timezone.now()
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def _event_body(*, event_id: uuid.UUID, event_type: str, data: dict) -> str:
    body = {
        "id": str(event_id),
        "type": event_type,
        "created_at": timezone.now().isoformat(),
        "company": connection.schema_name,
        "data": data,
    }
    # ASCII JSON: the stored text and the posted bytes are the same thing.
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=True)


def webhook_event_emit(*, event_type: str, data: dict) -> list[WebhookDelivery]:
    """Record an event for every active endpoint of the current company subscribed to it, in the
    caller's transaction; each delivery is posted by a worker after commit."""
    return webhook_events_emit(event_type=event_type, datas=[data])


def webhook_events_emit(*, event_type: str, datas: list[dict]) -> list[WebhookDelivery]:
    """Several events of one type (a campaign dispatcher's batch): one endpoint lookup, one insert."""
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if connection.schema_name == "public" or not datas:
        return []
    endpoint_ids = webhook_endpoint_ids_subscribed(event_type=event_type)
    if not endpoint_ids:
        return []
    now = timezone.now()
    rows = []
    for data in datas:
        event_id = uuid.uuid4()
        body = _event_body(event_id=event_id, event_type=event_type, data=data)
        rows.extend(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event_type,
                body=body,
                next_attempt_at=now,
            )
            for endpoint_id in endpoint_ids
        )
    deliveries = WebhookDelivery.objects.bulk_create(rows)
    from automation.tasks import deliver_webhook

    for delivery in deliveries:
        enqueue_on_commit(deliver_webhook, str(delivery.delivery_id))
    return deliveries


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.test` event to one endpoint, so a developer can check their receiver."""
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type="webhook.test",
        next_attempt_at=timezone.now(),
        body=_event_body(
            event_id=event_id,
            event_type="webhook.test",
            data={"endpoint_id": endpoint.id, "message": "This is a test event from OmniDesk."},
        ),
    )
    from automation.tasks import deliver_webhook

    enqueue_on_commit(deliver_webhook, str(delivery.delivery_id))
    return delivery


def webhook_delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, by hand, with the same delivery id; its retry schedule starts over."""
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    if not endpoint.is_active:
        raise BusinessRuleViolation(
            "The endpoint is disabled; enable it before retrying its deliveries.",
            code="webhook_endpoint_disabled",
            details={"disabled_reason": endpoint.disabled_reason},
        )
    with transaction.atomic():
        claimed = (
            WebhookDelivery.objects.filter(pk=delivery.pk)
            .exclude(status=WebhookDelivery.Status.SENDING)
            .update(status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now())
        )
        if not claimed:
            raise Conflict("This delivery is being sent right now.", code="webhook_delivery_in_progress")
        from automation.tasks import deliver_webhook

        enqueue_on_commit(deliver_webhook, str(delivery.delivery_id))
    delivery.refresh_from_db()
    return delivery


_clients: dict[int, httpx.Client] = {}


def _http_client() -> httpx.Client:
    """One pooled client per process (keep-alive to busy receivers), never inherited across a fork."""
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients.setdefault(
            os.getpid(),
            httpx.Client(
                timeout=TIMEOUT_S,
                follow_redirects=False,  # a redirect could lead anywhere, private addresses included
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            ),
        )
    return client


def _post(*, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return _http_client().post(url, content=body, headers=headers)


def _disable_endpoint(endpoint_id: int, reason: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_reason=reason, disabled_at=timezone.now()
    )


def _record_failure(delivery: WebhookDelivery, *, status_code: int | None, error: str, final: bool) -> str:
    """A failed attempt: retry later (or give up) and count it against the endpoint."""
    now = timezone.now()
    gives_up = final or delivery.attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.FAILED if gives_up else WebhookDelivery.Status.PENDING,
            next_attempt_at=None if gives_up else now + timedelta(seconds=retry_delay_s(delivery.attempts)),
            last_status_code=status_code,
            last_error=error[:MAX_ERROR_LENGTH],
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
        failures = WebhookEndpoint.objects.values_list("consecutive_failures", flat=True).get(
            pk=delivery.endpoint_id
        )
        limit = settings.WEBHOOK_AUTO_DISABLE_AFTER
        if limit and failures >= limit:
            _disable_endpoint(
                delivery.endpoint_id,
                f"Disabled automatically after {failures} consecutive failed deliveries "
                f"(last: {error[:200]}).",
            )
    return DeliveryOutcome.FAILED if gives_up else DeliveryOutcome.RETRY


_DELIVERY = ModelColumns(WebhookDelivery, "d")
_ENDPOINT = ModelColumns(WebhookEndpoint, "e")
# The dispatcher's two statements per delivery in plain SQL (core/rows.py): building them through the ORM
# cost more CPU than the rest of a delivery but the HTTP post.
_CLAIM = (
    f"UPDATE {_DELIVERY.table} d SET status = %s, attempts = d.attempts + 1, next_attempt_at = %s "
    f"FROM {_ENDPOINT.table} e WHERE e.id = d.endpoint_id AND e.is_active AND d.delivery_id = %s "
    "AND d.status IN (%s, %s) AND d.next_attempt_at <= %s "
    f"RETURNING {_DELIVERY.sql}, {_ENDPOINT.sql}"
)
_DELIVERED = (
    f"UPDATE {_DELIVERY.table} SET status = %s, delivered_at = %s, next_attempt_at = NULL, "
    "last_status_code = %s, last_error = '' WHERE id = %s"
)


def _delivery_claim(*, delivery_id: uuid.UUID | str, now: datetime) -> WebhookDelivery | None:
    """Claim a due delivery of an active endpoint for this worker (status sending, one more attempt, a
    lease) and return it with its endpoint; None when it is not due, taken, or its endpoint is disabled.
    Due: pending, or sending whose lease expired because its worker died."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM,
            [
                WebhookDelivery.Status.SENDING,
                now + timedelta(seconds=CLAIM_LEASE_S),
                str(delivery_id),
                WebhookDelivery.Status.PENDING,
                WebhookDelivery.Status.SENDING,
                now,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_DELIVERY)
    delivery = _DELIVERY.instance(row[:split], connection)
    delivery.endpoint = _ENDPOINT.instance(row[split:], connection)
    return delivery


def webhook_deliver(*, delivery_id: uuid.UUID | str) -> str:
    """Post one due delivery. Claiming the row with a conditional UPDATE first means two workers (or a
    redelivered task) never post it at the same time; a crashed worker's claim expires after a lease."""
    now = timezone.now()
    delivery = _delivery_claim(delivery_id=delivery_id, now=now)
    if delivery is None:
        # Pending and due, or sending whose claim (lease) expired because its worker died.
        due = Q(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING])
        WebhookDelivery.objects.filter(
            due, delivery_id=delivery_id, endpoint__is_active=False, next_attempt_at__lte=now
        ).update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="Not sent: the endpoint is disabled.",
        )
        return DeliveryOutcome.SKIPPED
    endpoint = delivery.endpoint
    try:
        webhook_target_check(url=endpoint.url)  # again: what a name resolves to can change
    except TargetRefused as exc:
        return _record_failure(delivery, status_code=None, error=f"Refused: {exc}", final=True)
    except OSError as exc:
        return _record_failure(delivery, status_code=None, error=f"DNS lookup failed: {exc}", final=False)
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-OmniDesk-Event": delivery.event_type,
        "X-OmniDesk-Delivery": str(delivery.delivery_id),
        "X-OmniDesk-Signature": webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    try:
        response = _post(url=endpoint.url, body=body, headers=headers)
    except httpx.HTTPError as exc:
        return _record_failure(
            delivery, status_code=None, error=f"{type(exc).__name__}: {exc}".rstrip(": "), final=False
        )
    if 200 <= response.status_code < 300:
        delivered = [WebhookDelivery.Status.SUCCEEDED, timezone.now(), response.status_code, delivery.pk]
        # One statement (its own transaction) on the hot path, a healthy endpoint; else also its count.
        with transaction.atomic() if endpoint.consecutive_failures else nullcontext():
            with connection.cursor() as cursor:
                cursor.execute(_DELIVERED, delivered)
            if endpoint.consecutive_failures:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return DeliveryOutcome.SUCCEEDED
    if response.status_code == 410:
        with transaction.atomic():
            _disable_endpoint(
                endpoint.pk,
                "Disabled automatically: the endpoint answered 410 Gone "
                f"at {timezone.now().isoformat(timespec='seconds')}.",
            )
            return _record_failure(
                delivery, status_code=410, error="HTTP 410 Gone: the receiver asked to stop.", final=True
            )
    return _record_failure(
        delivery, status_code=response.status_code, error=f"HTTP {response.status_code}", final=False
    )
