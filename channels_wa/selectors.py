"""Reads about channels that the dashboard and the API show."""

from __future__ import annotations

from django.db import connection

from channels_wa.models import Channel
from channels_wa.services import channel_platform_webhook_url, channel_webhook_url
from core.rows import ModelColumns

MESSENGER_FIELDS = (
    "messages, messaging_postbacks, message_reactions, message_reads, message_deliveries, message_echoes"
)
INSTAGRAM_FIELDS = "messages, messaging_postbacks, message_reactions, messaging_seen"

_CHANNEL = ModelColumns(Channel, "c")
_CHANNEL_BY_ID = f"SELECT {_CHANNEL.sql} FROM {_CHANNEL.table} c WHERE c.id = %s"


def channel_get(*, channel_id: int) -> Channel | None:
    """The channel with this id in the current company, or None; the API's send path reads it on every
    request, so it is one plain primary-key read (core/rows.py)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHANNEL_BY_ID, [channel_id])
        row = cursor.fetchone()
    return _CHANNEL.instance(row, connection) if row is not None else None


def channel_setup_steps(*, channel: Channel) -> list[str]:
    """What to paste where in the provider's console so its webhooks reach this channel."""
    url = channel_webhook_url(channel=channel)
    platform = channel_platform_webhook_url()
    provider = channel.provider
    if provider in (Channel.Provider.TWILIO_SMS, Channel.Provider.TWILIO_WHATSAPP):
        where = (
            f"Phone Numbers → Active numbers → {channel.external_id} → Messaging configuration → "
            "“A message comes in”"
            if provider == Channel.Provider.TWILIO_SMS
            else f"Messaging → Senders → WhatsApp senders → {channel.external_id} → "
            "“Webhook URL for incoming messages”"
        )
        steps = [
            f"Twilio Console → {where}: Webhook, HTTP POST, {url}",
            "Account SID goes in “Account id”, the Auth Token in “Access token” "
            "(it also checks X-Twilio-Signature).",
            "Delivery statuses come back on the same URL (sent with every message as StatusCallback).",
        ]
        if provider == Channel.Provider.TWILIO_WHATSAPP:
            steps.append("Templates: send a Content API template by its SID (HX…) as the template name.")
        return steps
    if provider in (Channel.Provider.META_MESSENGER, Channel.Provider.META_INSTAGRAM):
        product, fields = (
            ("Instagram → Webhooks", INSTAGRAM_FIELDS)
            if provider == Channel.Provider.META_INSTAGRAM
            else ("Messenger → Settings → Webhooks", MESSENGER_FIELDS)
        )
        return [
            f"Meta App Dashboard → {product}: Callback URL {platform} (one URL for every company) or {url} "
            "(this channel only); Verify token: this channel's verify token.",
            f"Subscribe {channel.external_id} to: {fields}.",
            "The page access token goes in “Access token”, the app secret in “App secret” "
            "(it checks X-Hub-Signature-256).",
        ]
    return [
        f"Meta App Dashboard → WhatsApp → Configuration: Callback URL {platform} (one URL for every company) "
        f"or {url} (this number only); Verify token: this channel's verify token; subscribe to “messages”.",
    ]
