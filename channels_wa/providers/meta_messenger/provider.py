"""Facebook Messenger and Instagram messaging through the Graph API Send API with a page access token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels_wa.providers import base
from channels_wa.providers.base import (
    ChannelConfig,
    ContactProfile,
    FetchedMedia,
    InboundEvent,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
)
from channels_wa.providers.meta_whatsapp.provider import MetaWhatsAppProvider

from . import webhooks
from .client import MessengerGraphClient

HUMAN_AGENT_TAG = "HUMAN_AGENT"
ATTACHMENT_TYPES = {
    base.IMAGE: "image",
    base.VIDEO: "video",
    base.AUDIO: "audio",
    base.DOCUMENT: "file",
    base.STICKER: "image",
}


def build_send_payload(message: OutboundMessage, *, is_instagram: bool) -> dict[str, Any]:
    """The exact JSON body of POST /{page id}/messages. Raises ValueError when the kind cannot be sent."""
    if message.kind == base.TEXT:
        if not message.text:
            raise ValueError("text message without text")
        content: dict[str, Any] = {"text": message.text}
    elif message.kind in ATTACHMENT_TYPES:
        if message.media is None or not message.media.link:
            raise ValueError("Messenger sends media by public link only")
        content = {
            "attachment": {
                "type": ATTACHMENT_TYPES[message.kind],
                "payload": {"url": message.media.link, "is_reusable": True},
            }
        }
    else:
        network = "Instagram" if is_instagram else "Messenger"
        raise ValueError(f"kind {message.kind!r} cannot be sent through {network}")
    if message.client_ref:
        content["metadata"] = message.client_ref  # comes back on the echo: our own send is not stored twice
    payload: dict[str, Any] = {"recipient": {"id": message.to}, "message": content}
    if message.tag:
        payload.update(messaging_type="MESSAGE_TAG", tag=message.tag)
    else:
        payload["messaging_type"] = "RESPONSE"
    return payload


class MessengerProvider(Provider):
    name = "meta_messenger"
    identity_kind = "messenger"
    platform_route_kind = "messenger"
    human_agent_window_s = 7 * 24 * 3600
    supports_templates = False
    is_instagram = False

    def __init__(self, config: ChannelConfig, *, client: MessengerGraphClient | None = None):
        super().__init__(config)
        self.client = client or MessengerGraphClient(config)

    def open(self) -> None:
        self.client.open()

    def close(self) -> None:
        self.client.close()

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            payload = build_send_payload(message, is_instagram=self.is_instagram)
        except ValueError as exc:
            return SendResult(
                error=ProviderError(code="invalid_message", title="Message not sendable", detail=str(exc))
            )
        return self.client.send(payload)

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str], url: str = "") -> bool:
        # The same X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app secret) as WhatsApp.
        return MetaWhatsAppProvider.verify_webhook(self, body=body, headers=headers)

    def verify_subscription(self, params: Mapping[str, str]) -> str | None:
        return MetaWhatsAppProvider.verify_subscription(self, params)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return webhooks.parse(body, external_id=self.config.external_id or None)

    def fetch_media(self, ref: str) -> FetchedMedia:
        content, mime_type = self.client.download(ref)
        return FetchedMedia(content=content, mime_type=mime_type)

    def fetch_profile(self, user_id: str) -> ContactProfile:
        return self.client.profile(user_id, is_instagram=self.is_instagram)


class InstagramProvider(MessengerProvider):
    name = "meta_instagram"
    identity_kind = "instagram"
    platform_route_kind = "instagram"
    is_instagram = True
