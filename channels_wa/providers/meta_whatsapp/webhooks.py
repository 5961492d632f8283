"""Cloud API webhook deliveries parsed into neutral events (InboundMessage, StatusUpdate, WebhookError)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels_wa.providers import base
from channels_wa.providers.base import (
    InboundEvent,
    InboundMedia,
    InboundMessage,
    LocationRef,
    ProviderError,
    StatusUpdate,
    WebhookError,
)

from .errors import error_from_meta

logger = logging.getLogger(__name__)

WEBHOOK_OBJECT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"
# Subscribed-to fields that carry no inbox events for this provider; anything else unknown is logged.
IGNORED_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "automatic_events",
        "business_capability_update",
        "business_status_update",
        "calls",
        "flows",
        "history",
        "message_echoes",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "smb_app_state_sync",
        "smb_message_echoes",
        "template_category_update",
        "tracking_events",
        "user_preferences",
    }
)

_NON_DIGITS = re.compile(r"\D")

MessageFields = dict[str, Any]


def phone_number_ids(payload: dict) -> list[str]:
    """The distinct phone_number_ids a delivery concerns, in order, to route it to channels. Tolerates a
    malformed payload (returns what it can find) because routing happens before parsing."""
    found: list[str] = []
    if not isinstance(payload, Mapping):
        return found
    for entry in _list(payload.get("entry")):
        for change in _list(entry.get("changes") if isinstance(entry, Mapping) else None):
            value = change.get("value") if isinstance(change, Mapping) else None
            metadata = value.get("metadata") if isinstance(value, Mapping) else None
            number_id = str(metadata.get("phone_number_id") or "") if isinstance(metadata, Mapping) else ""
            if number_id and number_id not in found:
                found.append(number_id)
    return found


def parse(body: bytes, *, phone_number_id: str | None = None) -> list[InboundEvent]:
    """Every event in one delivery, or only those for `phone_number_id` when given (one delivery may carry
    several numbers, possibly of different tenants). Raises ValueError on a malformed body."""
    payload = load(body)
    events: list[InboundEvent] = []
    for entry in payload["entry"]:
        if not isinstance(entry, Mapping):
            raise ValueError("Meta webhook: entry item is not an object")
        changes = entry.get("changes", [])
        if not isinstance(changes, list):
            raise ValueError("Meta webhook: entry.changes is not a list")
        for change in changes:
            if not isinstance(change, Mapping):
                raise ValueError("Meta webhook: change is not an object")
            field = change.get("field")
            if field != MESSAGES_FIELD:
                if field not in IGNORED_FIELDS:
                    logger.warning("Meta webhook: unknown change field %r ignored", field)
                continue
            value = change.get("value")
            if not isinstance(value, Mapping):
                raise ValueError("Meta webhook: change.value is not an object")
            external_id = _phone_number_id(value)
            if phone_number_id is not None and external_id != phone_number_id:
                continue
            events.extend(_parse_value(value, external_id))
    return events


def load(body: bytes | str) -> dict[str, Any]:
    """The decoded delivery, checked for the envelope shape."""
    try:
        payload = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Meta webhook: body is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise ValueError("Meta webhook: body is not a JSON object")
    if payload.get("object") != WEBHOOK_OBJECT:
        raise ValueError(f"Meta webhook: object is {payload.get('object')!r}, expected {WEBHOOK_OBJECT!r}")
    if not isinstance(payload.get("entry"), list):
        raise ValueError("Meta webhook: entry is missing or not a list")
    return payload


def _parse_value(value: Mapping[str, Any], external_id: str) -> list[InboundEvent]:
    profile_names = {
        str(contact.get("wa_id")): str((contact.get("profile") or {}).get("name") or "")
        for contact in _list(value.get("contacts"))
        if isinstance(contact, Mapping)
    }
    events: list[InboundEvent] = []
    for message in _objects(value, "messages"):
        events.append(_parse_message(message, external_id, profile_names))
    for status in _objects(value, "statuses"):
        events.append(_parse_status(status, external_id))
    for error in _objects(value, "errors"):
        events.append(WebhookError(external_id=external_id, error=error_from_meta(error, None), raw=error))
    return events


# Messages


def _parse_message(
    message: Mapping[str, Any], external_id: str, profile_names: Mapping[str, str]
) -> InboundMessage:
    message_id = str(message.get("id") or "")
    sender = str(message.get("from") or "")
    if not message_id or not sender:
        raise ValueError("Meta webhook: message without id or from")
    message_type = str(message.get("type") or "")
    parser = _MESSAGE_PARSERS.get(message_type, _unsupported)
    fields = parser(message, message_type)
    context = message.get("context")
    digits = _NON_DIGITS.sub("", sender)
    return InboundMessage(
        external_id=external_id,
        provider_message_id=message_id,
        from_id=sender,
        from_phone=f"+{digits}" if digits else "",
        profile_name=profile_names.get(sender, ""),
        timestamp=_timestamp(message.get("timestamp")),
        reply_to=str(context.get("id") or "") if isinstance(context, Mapping) else "",
        errors=[error_from_meta(error, None) for error in _objects(message, "errors")],
        raw=message,
        **fields,
    )


def _text(message: Mapping[str, Any], message_type: str) -> MessageFields:
    return {"kind": base.TEXT, "text": str(_object(message, "text").get("body") or "")}


def _media(message: Mapping[str, Any], message_type: str) -> MessageFields:
    media = _object(message, message_type)
    caption = str(media.get("caption") or "")
    return {
        "kind": message_type,
        "text": caption,
        "media": InboundMedia(
            media_id=str(media.get("id") or ""),
            url=str(media.get("url") or ""),
            mime_type=str(media.get("mime_type") or ""),
            sha256=str(media.get("sha256") or ""),
            filename=str(media.get("filename") or ""),
            caption=caption,
            is_voice=bool(media.get("voice", False)),
        ),
    }


def _location(message: Mapping[str, Any], message_type: str) -> MessageFields:
    location = _object(message, "location")
    try:
        latitude, longitude = float(location["latitude"]), float(location["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("Meta webhook: location message without valid latitude/longitude") from exc
    return {
        "kind": base.LOCATION,
        "location": LocationRef(
            latitude=latitude,
            longitude=longitude,
            name=str(location.get("name") or ""),
            address=str(location.get("address") or ""),
        ),
    }


def _contacts(message: Mapping[str, Any], message_type: str) -> MessageFields:
    contacts = [dict(contact) for contact in _objects(message, "contacts")]
    names = [str((contact.get("name") or {}).get("formatted_name") or "") for contact in contacts]
    return {"kind": base.CONTACTS, "contacts": contacts, "text": ", ".join(name for name in names if name)}


def _interactive(message: Mapping[str, Any], message_type: str) -> MessageFields:
    interactive = _object(message, "interactive")
    reply_type = str(interactive.get("type") or "")
    if reply_type in ("button_reply", "list_reply"):
        reply = _object(interactive, reply_type)
        return {
            "kind": base.INTERACTIVE,
            "reply_id": str(reply.get("id") or ""),
            "text": str(reply.get("title") or ""),
        }
    if reply_type == "nfm_reply":  # a WhatsApp Flow submitted; the answers stay in raw.response_json
        reply = _object(interactive, "nfm_reply")
        return {
            "kind": base.INTERACTIVE,
            "reply_id": str(reply.get("name") or ""),
            "text": str(reply.get("body") or ""),
        }
    return {"kind": base.UNSUPPORTED}


def _button(message: Mapping[str, Any], message_type: str) -> MessageFields:
    button = _object(message, "button")
    return {
        "kind": base.BUTTON,
        "text": str(button.get("text") or ""),
        "reply_id": str(button.get("payload") or ""),
    }


def _reaction(message: Mapping[str, Any], message_type: str) -> MessageFields:
    reaction = _object(message, "reaction")
    # An absent or empty emoji means the customer removed their reaction.
    return {
        "kind": base.REACTION,
        "reaction_to": str(reaction.get("message_id") or ""),
        "text": str(reaction.get("emoji") or ""),
    }


def _order(message: Mapping[str, Any], message_type: str) -> MessageFields:
    order = _object(message, "order")
    items = _objects(order, "product_items")
    count = sum(_quantity(item) for item in items)
    summary = f"Order of {count} item{'' if count == 1 else 's'}"
    note = str(order.get("text") or "")
    return {"kind": base.ORDER, "text": f"{summary}: {note}" if note else summary}


def _system(message: Mapping[str, Any], message_type: str) -> MessageFields:
    return {"kind": base.SYSTEM, "text": str(_object(message, "system").get("body") or "")}


def _unsupported(message: Mapping[str, Any], message_type: str) -> MessageFields:
    if message_type != "unsupported":
        logger.info("Meta webhook: message type %r kept as unsupported", message_type)
    return {"kind": base.UNSUPPORTED}


_MESSAGE_PARSERS: dict[str, Callable[[Mapping[str, Any], str], MessageFields]] = {
    "text": _text,
    "image": _media,
    "audio": _media,
    "video": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
}


# Statuses


def _parse_status(status: Mapping[str, Any], external_id: str) -> StatusUpdate:
    message_id = str(status.get("id") or "")
    state = str(status.get("status") or "")
    if not message_id or not state:
        raise ValueError("Meta webhook: status without id or status")
    errors = _objects(status, "errors")
    error: ProviderError | None = error_from_meta(errors[0], None) if errors else None
    if error is None and state == "failed":
        error = ProviderError(code="unknown", title="Delivery failed", detail="Meta reported no error")
    return StatusUpdate(
        external_id=external_id,
        provider_message_id=message_id,
        status=state,
        timestamp=_timestamp(status.get("timestamp")),
        recipient_id=str(status.get("recipient_id") or ""),
        error=error,
        pricing=_object(status, "pricing"),
        conversation=_object(status, "conversation"),
        raw=status,
    )


# Small helpers


def _phone_number_id(value: Mapping[str, Any]) -> str:
    metadata = value.get("metadata")
    return str(metadata.get("phone_number_id") or "") if isinstance(metadata, Mapping) else ""


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"Meta webhook: bad timestamp {value!r}") from exc


def _quantity(item: Mapping[str, Any]) -> int:
    try:
        return max(int(item.get("quantity", 1)), 0)
    except (TypeError, ValueError):
        return 1


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _objects(container: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return [dict(item) for item in _list(container.get(key)) if isinstance(item, Mapping)]
