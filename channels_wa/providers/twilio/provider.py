"""Twilio: WhatsApp and SMS through the `twilio` SDK. Neutral messages in, Messages API parameters out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from channels_wa.providers import base
from channels_wa.providers.base import (
    ChannelConfig,
    FetchedMedia,
    InboundEvent,
    OutboundMessage,
    Provider,
    ProviderError,
    ProviderRequestError,
    SendResult,
    TemplateInfo,
)
from channels_wa.providers.meta_whatsapp.provider import variable_count

from . import webhooks
from .client import TwilioClient

SIGNATURE_HEADER = "x-twilio-signature"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS segments a text costs: 160/153 GSM-7 septets, or 70/67 UCS-2 characters."""
    if not text:
        return 0
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        septets = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


class TwilioProvider(Provider):
    is_whatsapp = False
    wants_webhook_url = True

    def __init__(self, config: ChannelConfig, *, client: TwilioClient | None = None):
        super().__init__(config)
        self.client = client or TwilioClient(config)

    def open(self) -> None:
        self.client.open()

    def close(self) -> None:
        self.client.close()

    def address(self, number: str) -> str:
        number = webhooks.address(number)
        if not number.startswith("+") and number.isdigit():
            number = f"+{number}"
        return f"{webhooks.WHATSAPP_PREFIX}{number}" if self.is_whatsapp else number

    def message_params(self, message: OutboundMessage) -> dict[str, Any]:
        params: dict[str, Any] = {
            "from_": self.address(self.config.external_id),
            "to": self.address(message.to),
        }
        callback = self.config.options.get("webhook_url")
        if callback:
            params["status_callback"] = callback
        if message.kind == base.TEXT:
            if not message.text:
                raise ValueError("text message without text")
            params["body"] = message.text
        elif message.kind in base.MEDIA_KINDS:
            if message.media is None or not message.media.link:
                raise ValueError("Twilio sends media by public link only")
            params["media_url"] = [message.media.link]
            if message.media.caption:
                params["body"] = message.media.caption
        elif message.kind == base.TEMPLATE and self.supports_templates and message.template is not None:
            # A Content API template: its SID (HX…) is the template name; variables are numbered from 1.
            params["content_sid"] = message.template.name
            if message.template.body_params:
                params["content_variables"] = json.dumps(
                    {str(index): value for index, value in enumerate(message.template.body_params, start=1)}
                )
        else:
            raise ValueError(f"kind {message.kind!r} cannot be sent through Twilio {self.identity_kind}")
        return params

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            params = self.message_params(message)
        except ValueError as exc:
            return SendResult(
                error=ProviderError(code="invalid_message", title="Message not sendable", detail=str(exc))
            )
        try:
            sent = self.client.create_message(params)
        except ProviderRequestError as exc:
            return SendResult(error=exc.error)
        raw: dict[str, Any] = {"sid": sent.sid, "status": sent.status}
        if sent.num_segments is not None:
            raw["num_segments"] = sent.num_segments
        return SendResult(provider_message_id=sent.sid, raw=raw)

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str], url: str = "") -> bool:
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        if not self.config.access_token or not signature or not url:
            return False
        params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        return RequestValidator(self.config.access_token).validate(url, params, signature)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return webhooks.parse(body, external_id=self.config.external_id or None)

    def fetch_media(self, ref: str) -> FetchedMedia:
        message_sid, _, media_sid = ref.partition("/")
        url = ref if ref.startswith("http") else self.client.media_url(message_sid, media_sid)
        content, mime_type = self.client.download_media(url)
        return FetchedMedia(content=content, mime_type=mime_type)

    def webhook_ack(self, *, created: bool) -> tuple[bytes, str] | None:
        return EMPTY_TWIML, "text/xml"


class TwilioWhatsAppProvider(TwilioProvider):
    name = "twilio_whatsapp"
    is_whatsapp = True
    identity_kind = "whatsapp"

    def sync_templates(self) -> list[TemplateInfo]:
        """Content API templates; the SID (HX…) is the name a send uses as ContentSid."""
        return [content_template_info(item) for item in self.client.list_templates()]


def content_template_info(item: Mapping[str, Any]) -> TemplateInfo:
    types = item.get("types") if isinstance(item.get("types"), Mapping) else {}
    components = []
    for content_type, value in types.items():
        body = value.get("body") if isinstance(value, Mapping) else None
        if body:
            components.append(
                {
                    "type": "BODY",
                    "text": str(body),
                    "content_type": content_type,
                    "friendly_name": str(item.get("friendly_name") or ""),
                }
            )
            break
    approval = item.get("approval_requests") if isinstance(item.get("approval_requests"), Mapping) else {}
    return TemplateInfo(
        name=str(item.get("sid") or ""),
        language=str(item.get("language") or "en"),
        category=str(approval.get("category") or ""),
        status=str(approval.get("status") or "unsubmitted").upper(),
        components=components,
        variable_count=variable_count(components),
        provider_template_id=str(item.get("sid") or ""),
    )


class TwilioSmsProvider(TwilioProvider):
    name = "twilio_sms"
    identity_kind = "sms"
    has_window = False
    supports_templates = False
    counts_segments = True

    @classmethod
    def segment_count(cls, text: str) -> int | None:
        return sms_segments(text)
