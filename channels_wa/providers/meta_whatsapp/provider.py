"""The WhatsApp Cloud API provider: neutral messages in, Cloud API JSON out, through MetaGraphClient."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from channels_wa.providers import base
from channels_wa.providers.base import (
    ChannelConfig,
    FetchedMedia,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    TemplateInfo,
    TemplateRef,
)

from . import webhooks
from .client import MetaGraphClient

SIGNATURE_HEADER = "x-hub-signature-256"
MAX_REPLY_BUTTONS = 3
CAPTIONED_KINDS = frozenset({base.IMAGE, base.VIDEO, base.DOCUMENT})
HEADER_MEDIA_KINDS = frozenset({base.IMAGE, base.VIDEO, base.DOCUMENT})

_PHONE = re.compile(r"^\+?[\d\s().-]+$")
_NON_DIGITS = re.compile(r"\D")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class MetaWhatsAppProvider(Provider):
    name = "meta_whatsapp"
    platform_route_kind = "whatsapp"

    def __init__(self, config: ChannelConfig, *, client: MetaGraphClient | None = None):
        super().__init__(config)
        self.client = client or MetaGraphClient(config)

    def open(self) -> None:
        self.client.open()

    def close(self) -> None:
        self.client.close()

    # Sending

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            payload = build_message_payload(message)
        except ValueError as exc:
            return SendResult(
                error=ProviderError(code="invalid_message", title="Message not sendable", detail=str(exc))
            )
        return self.client.send_message(payload)

    def mark_read(self, provider_message_id: str) -> SendResult:
        return self.client.mark_read(provider_message_id)

    # Webhooks

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str], url: str = "") -> bool:
        if not self.config.app_secret:
            return False
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            return False
        digest = hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={digest}".encode(), signature.strip().encode())

    def verify_subscription(self, params: Mapping[str, str]) -> str | None:
        token = params.get("hub.verify_token") or ""
        if params.get("hub.mode") != "subscribe" or not self.config.verify_token or not token:
            return None
        if not hmac.compare_digest(self.config.verify_token.encode(), token.encode()):
            return None
        return params.get("hub.challenge") or ""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Only the events for this channel's phone_number_id when the config has one."""
        return webhooks.parse(body, phone_number_id=self.config.external_id or None)

    # Media and templates

    def fetch_media(self, ref: str) -> FetchedMedia:
        info = self.client.get_media_info(ref)
        content = self.client.download_media(info.url)
        return FetchedMedia(content=content, mime_type=info.mime_type)

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        return self.client.upload_media(content=content, mime_type=mime_type, filename=filename)

    def sync_templates(self) -> list[TemplateInfo]:
        if not self.config.account_id:
            return []
        return [template_info(item) for item in self.client.iter_templates(self.config.account_id)]


def build_message_payload(message: OutboundMessage) -> dict[str, Any]:
    """The exact JSON body of POST /{phone_number_id}/messages. Raises ValueError when the message lacks
    what its kind needs."""
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(message.to),
        "type": message.kind,
    }
    builder = _BUILDERS.get(message.kind)
    if builder is None:
        raise ValueError(f"kind {message.kind!r} cannot be sent through the WhatsApp Cloud API")
    payload[message.kind] = builder(message)
    if message.reply_to:
        payload["context"] = {"message_id": message.reply_to}
    if message.client_ref:
        payload["biz_opaque_callback_data"] = message.client_ref
    return payload


def recipient(to: str) -> str:
    """Cloud API wants the phone number as digits only; other recipient ids pass through."""
    return _NON_DIGITS.sub("", to) if _PHONE.match(to) else to


def _text(message: OutboundMessage) -> dict[str, Any]:
    if not message.text:
        raise ValueError("text message without text")
    return {"body": message.text, "preview_url": message.preview_url}


def _media(message: OutboundMessage) -> dict[str, Any]:
    if message.media is None:
        raise ValueError(f"{message.kind} message without media")
    media = _media_object(message.media, message.kind)
    if message.kind in CAPTIONED_KINDS and message.media.caption:
        media["caption"] = message.media.caption
    return media


def _media_object(media: MediaRef, kind: str) -> dict[str, Any]:
    if media.media_id:
        result: dict[str, Any] = {"id": media.media_id}
    elif media.link:
        result = {"link": media.link}
    else:
        raise ValueError(f"{kind} media needs a link or a media id")
    if kind == base.DOCUMENT and media.filename:
        result["filename"] = media.filename
    return result


def _template(message: OutboundMessage) -> dict[str, Any]:
    if message.template is None:
        raise ValueError("template message without template")
    template: TemplateRef = message.template
    components: list[dict[str, Any]] = []
    if template.header_media is not None:
        kind = template.header_media_kind
        if kind not in HEADER_MEDIA_KINDS:
            raise ValueError(f"template header media kind must be image, video or document, not {kind!r}")
        components.append(
            {
                "type": "header",
                "parameters": [{"type": kind, kind: _media_object(template.header_media, kind)}],
            }
        )
    elif template.header_params:
        components.append({"type": "header", "parameters": _text_parameters(template.header_params)})
    if template.body_params:
        components.append({"type": "body", "parameters": _text_parameters(template.body_params)})
    for index, sub_type, value in template.button_params:
        if sub_type == "quick_reply":
            parameter = {"type": "payload", "payload": value}
        elif sub_type == "url":
            parameter = {"type": "text", "text": value}
        else:
            raise ValueError(f"template button sub_type must be quick_reply or url, not {sub_type!r}")
        components.append(
            {"type": "button", "sub_type": sub_type, "index": str(index), "parameters": [parameter]}
        )
    result: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        result["components"] = components
    return result


def _text_parameters(values: list[str]) -> list[dict[str, str]]:
    return [{"type": "text", "text": value} for value in values]


def _reaction(message: OutboundMessage) -> dict[str, Any]:
    if not message.reaction_to:
        raise ValueError("reaction without the message it reacts to")
    # An empty emoji removes an earlier reaction.
    return {"message_id": message.reaction_to, "emoji": message.text}


def _location(message: OutboundMessage) -> dict[str, Any]:
    if message.location is None:
        raise ValueError("location message without location")
    location: dict[str, Any] = {
        "latitude": message.location.latitude,
        "longitude": message.location.longitude,
    }
    if message.location.name:
        location["name"] = message.location.name
    if message.location.address:
        location["address"] = message.location.address
    return location


def _interactive(message: OutboundMessage) -> dict[str, Any]:
    interactive = message.interactive
    if interactive is None:
        raise ValueError("interactive message without interactive content")
    if not interactive.body:
        raise ValueError("interactive message without body text")
    if interactive.kind == "button":
        if not 1 <= len(interactive.buttons) <= MAX_REPLY_BUTTONS:
            raise ValueError(f"reply buttons need 1 to {MAX_REPLY_BUTTONS} buttons")
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": button_id, "title": title}}
                for button_id, title in interactive.buttons
            ]
        }
    elif interactive.kind == "list":
        if not interactive.button_text or not interactive.sections:
            raise ValueError("list message needs button text and at least one section")
        action = {"button": interactive.button_text, "sections": [_section(s) for s in interactive.sections]}
    else:
        raise ValueError(f"interactive kind must be button or list, not {interactive.kind!r}")
    result: dict[str, Any] = {"type": interactive.kind}
    if interactive.header:
        result["header"] = {"type": "text", "text": interactive.header}
    result["body"] = {"text": interactive.body}
    if interactive.footer:
        result["footer"] = {"text": interactive.footer}
    result["action"] = action
    return result


def _section(section: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for row in section.get("rows") or []:
        item = {"id": str(row["id"]), "title": str(row["title"])}
        if row.get("description"):
            item["description"] = str(row["description"])
        rows.append(item)
    result: dict[str, Any] = {"rows": rows}
    if section.get("title"):
        result = {"title": str(section["title"]), **result}
    return result


_BUILDERS = {
    base.TEXT: _text,
    base.IMAGE: _media,
    base.VIDEO: _media,
    base.AUDIO: _media,
    base.DOCUMENT: _media,
    base.STICKER: _media,
    base.TEMPLATE: _template,
    base.REACTION: _reaction,
    base.LOCATION: _location,
    base.INTERACTIVE: _interactive,
}


def template_info(item: Mapping[str, Any]) -> TemplateInfo:
    components = [dict(c) for c in item.get("components") or [] if isinstance(c, Mapping)]
    return TemplateInfo(
        name=str(item.get("name") or ""),
        language=str(item.get("language") or ""),
        category=str(item.get("category") or ""),
        status=str(item.get("status") or ""),
        components=components,
        variable_count=variable_count(components),
        provider_template_id=str(item.get("id") or ""),
    )


def variable_count(components: list[dict[str, Any]]) -> int:
    """How many parameters a send must supply: distinct {{n}} (or named {{name}}) placeholders within each
    header, body and button, summed, since Meta numbers each component's placeholders separately."""
    total = 0
    for component in components:
        kind = str(component.get("type") or "").upper()
        if kind in ("HEADER", "BODY"):
            total += len(set(_PLACEHOLDER.findall(str(component.get("text") or ""))))
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if isinstance(button, Mapping):
                    texts = f"{button.get('url') or ''} {button.get('text') or ''}"
                    total += len(set(_PLACEHOLDER.findall(texts)))
    return total


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
