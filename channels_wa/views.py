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
from channels_wa.providers.meta_whatsapp.webhooks import phone_number_ids
from channels_wa.providers.registry import provider_class, provider_for
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


def _signature_refused() -> JsonResponse:
    return json_error("invalid_signature", "X-Hub-Signature-256 is missing or does not match the body.", 401)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_channel_webhook(request, channel_uuid):
    """`/webhooks/whatsapp/<channel uuid>/` on the company host."""
    channel = _channel(channel_uuid)
    if channel is None:
        return json_error("not_found", "No such channel.", 404)
    if request.method == "GET":
        return _challenge(channel.verify_token, request.GET)
    body = request.body
    if not provider_for(channel).verify_webhook(body=body, headers=request.headers):
        return _signature_refused()
    _, created = webhook_event_store(
        provider=channel.provider,
        body=body,
        headers=dict(request.headers),
        company=request.tenant,
        channel_id=channel.id,
    )
    return _accepted(created)


def _platform_secrets(body: bytes) -> list[str]:
    """App secrets a platform delivery may be signed with: the platform's Meta app, else those of the
    channels the payload names."""
    if settings.META_APP_SECRET:
        return [settings.META_APP_SECRET]
    try:
        ids = phone_number_ids(json.loads(body))
    except ValueError:
        return []
    from django_tenants.utils import schema_context

    secrets = []
    for route in ChannelRoute.objects.select_related("company").filter(
        provider="whatsapp", external_id__in=ids
    ):
        with schema_context(route.company.schema_name):
            channel = Channel.objects.filter(pk=route.channel_id).first()
            if channel is not None and channel.app_secret:
                secrets.append(channel.app_secret)
    return secrets


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_platform_webhook(request):
    """`/webhooks/meta/` on the platform host: one URL for every company, routed by phone_number_id."""
    if request.method == "GET":
        return _challenge(settings.META_VERIFY_TOKEN, request.GET)
    body = request.body
    verifier = provider_class("meta_whatsapp")
    is_valid = any(
        verifier(ChannelConfig(provider="meta_whatsapp", external_id="", app_secret=secret)).verify_webhook(
            body=body, headers=request.headers
        )
        for secret in _platform_secrets(body)
    )
    connection.set_schema_to_public()
    if not is_valid:
        return _signature_refused()
    _, created = webhook_event_store(provider="meta_whatsapp", body=body, headers=dict(request.headers))
    return _accepted(created)
