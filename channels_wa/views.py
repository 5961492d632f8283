"""Inbound provider webhooks: verify first, store the raw delivery, answer 200 at once.

Processing happens in a worker after commit; a delivery whose task is lost is re-enqueued by the
sweeper, so a broker outage loses nothing."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_wa.models import Channel
from channels_wa.providers.base import ChannelConfig
from channels_wa.providers.meta_messenger import webhooks as messenger_webhooks
from channels_wa.providers.meta_whatsapp.webhooks import phone_number_ids
from channels_wa.providers.registry import ROUTE_KIND, WEBHOOK_PATH, provider_class, provider_for
from channels_wa.services import webhook_event_store
from core.errors import json_error
from core.localcache import TTLCache
from tenants.models import ChannelRoute

channels_by_url = TTLCache(ttl_s=settings.TENANT_CACHE_SECONDS)


def _channel(channel_uuid) -> Channel | None:
    key = (connection.schema_name, channel_uuid)
    channel = channels_by_url.get(key)
    if channel is None:
        channel = Channel.objects.filter(uuid=channel_uuid).first()
        if channel is not None:
            channels_by_url.set(key, channel)
    return channel


def _challenge(expected_token: str, params) -> HttpResponse:
    if (
        params.get("hub.mode") == "subscribe"
        and expected_token
        and hmac.compare_digest(params.get("hub.verify_token", ""), expected_token)
    ):
        return HttpResponse(params.get("hub.challenge", ""), content_type="text/plain")
    return HttpResponse("Verification token mismatch", status=403, content_type="text/plain")


def _accepted(created: bool) -> JsonResponse:
    return JsonResponse({"status": "accepted" if created else "duplicate"})


def _signature_refused(header: str = "X-Hub-Signature-256") -> JsonResponse:
    return json_error("invalid_signature", f"{header} is missing or does not match the body.", 401)


def called_url(request) -> str:
    """The URL exactly as the provider called it, behind a TLS-terminating proxy too (Twilio signs it)."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() or request.scheme
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.get_host()
    return f"{proto}://{host}{request.get_full_path()}"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def channel_webhook(request, channel_uuid, path_kind: str = "whatsapp"):
    """`/webhooks/{whatsapp,twilio,messenger}/<channel uuid>/` on the company host."""
    channel = _channel(channel_uuid)
    if channel is None or WEBHOOK_PATH.get(channel.provider) != path_kind:
        return json_error("not_found", "No such channel.", 404)
    if request.method == "GET":
        return _challenge(channel.verify_token, request.GET)
    body = request.body
    provider = provider_for(channel)
    if not provider.verify_webhook(body=body, headers=request.headers, url=called_url(request)):
        return _signature_refused("X-Twilio-Signature" if path_kind == "twilio" else "X-Hub-Signature-256")
    _, created = webhook_event_store(
        provider=channel.provider,
        body=body,
        headers=dict(request.headers),
        company=request.tenant,
        channel_id=channel.id,
    )
    ack = provider.webhook_ack(created=created)
    if ack is not None:
        return HttpResponse(ack[0], content_type=ack[1])
    return _accepted(created)


def _platform_provider(payload) -> str:
    """Which provider a platform delivery is for: the payload's `object` decides."""
    kind = payload.get("object") if isinstance(payload, dict) else None
    return messenger_webhooks.OBJECTS.get(kind, "meta_whatsapp")


def _platform_secrets(provider: str, payload) -> list[str]:
    """App secrets a platform delivery may be signed with: the platform's Meta app, else those of the
    channels the payload names."""
    if settings.META_APP_SECRET:
        return [settings.META_APP_SECRET]
    if provider == "meta_whatsapp":
        ids = phone_number_ids(payload)
    else:
        ids = messenger_webhooks.entry_ids(payload)
    from django_tenants.utils import schema_context

    secrets = []
    for route in ChannelRoute.objects.select_related("company").filter(
        provider=ROUTE_KIND[provider], external_id__in=ids
    ):
        with schema_context(route.company.schema_name):
            channel = Channel.objects.filter(pk=route.channel_id).first()
            if channel is not None and channel.app_secret:
                secrets.append(channel.app_secret)
    return secrets


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_platform_webhook(request):
    """`/webhooks/meta/` on the platform host: one URL for every company and every Meta product (WhatsApp,
    Messenger, Instagram: the payload's `object` decides), routed by phone_number_id, page or account id."""
    if request.method == "GET":
        return _challenge(settings.META_VERIFY_TOKEN, request.GET)
    body = request.body
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    provider = _platform_provider(payload)
    verifier = provider_class(provider)
    is_valid = any(
        verifier(ChannelConfig(provider=provider, external_id="", app_secret=secret)).verify_webhook(
            body=body, headers=request.headers
        )
        for secret in _platform_secrets(provider, payload)
    )
    connection.set_schema_to_public()
    if not is_valid:
        return _signature_refused()
    _, created = webhook_event_store(provider=provider, body=body, headers=dict(request.headers))
    return _accepted(created)
