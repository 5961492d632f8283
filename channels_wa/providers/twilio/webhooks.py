"""Twilio webhooks (form-encoded): incoming messages and status callbacks, parsed into neutral events."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from channels_wa.providers import base
from channels_wa.providers.base import InboundEvent, InboundMedia, InboundMessage, LocationRef, StatusUpdate

from .errors import twilio_error

logger = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
# Twilio's states mapped to ours; the others (queued, accepted, sending, scheduled…) change nothing.
STATUS_MAP = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
IGNORED_STATUSES = frozenset({"queued", "accepted", "sending", "scheduled", "receiving", "received"})
OPT_OUT_TYPES = frozenset({"STOP"})
OPT_IN_TYPES = frozenset({"START"})
_MEDIA_SID = re.compile(r"/Messages/(MM\w+)/Media/(ME\w+)")


def load(body: bytes | str) -> dict[str, str]:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    params = dict(parse_qsl(text, keep_blank_values=True))
    if not params.get("MessageSid") and not params.get("SmsSid"):
        raise ValueError("Twilio webhook: no MessageSid")
    return params


def address(value: str) -> str:
    """`whatsapp:+15551234567` or `+15551234567` → `+15551234567`."""
    return value[len(WHATSAPP_PREFIX) :] if value.startswith(WHATSAPP_PREFIX) else value


def parse(body: bytes, *, external_id: str | None = None) -> list[InboundEvent]:
    params = load(body)
    our_number = (
        address(params.get("To", "")) if "MessageStatus" not in params else address(params.get("From", ""))
    )
    if external_id is not None and external_id and our_number != external_id:
        return []
    if "MessageStatus" in params:
        status = _status(params, our_number)
        return [status] if status else []
    return _messages(params, our_number)


def _status(params: Mapping[str, str], our_number: str) -> StatusUpdate | None:
    state = params.get("MessageStatus", "").lower()
    if state in IGNORED_STATUSES:
        return None
    if state not in STATUS_MAP:
        logger.warning("Twilio webhook: unknown MessageStatus %r ignored", state)
        return None
    status = STATUS_MAP[state]
    error = None
    if status == "failed":
        error = twilio_error(params.get("ErrorCode") or "unknown", params.get("ErrorMessage", ""))
    return StatusUpdate(
        external_id=our_number,
        provider_message_id=params.get("MessageSid") or params.get("SmsSid", ""),
        status=status,
        timestamp=datetime.now(tz=UTC),
        recipient_id=address(params.get("To", "")),
        error=error,
        raw=dict(params),
    )


def _media_kind(mime_type: str) -> str:
    major = mime_type.split("/")[0]
    if major in ("image", "video", "audio"):
        return major
    return base.DOCUMENT


def _messages(params: Mapping[str, str], our_number: str) -> list[InboundEvent]:
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    sender = params.get("From", "")
    if not sender:
        raise ValueError("Twilio webhook: message without From")
    phone = address(sender)
    is_whatsapp = sender.startswith(WHATSAPP_PREFIX)
    from_id = params.get("WaId") or phone.lstrip("+") if is_whatsapp else phone
    common = {
        "external_id": our_number,
        "from_id": from_id,
        "from_phone": phone,
        "profile_name": params.get("ProfileName", ""),
        "timestamp": datetime.now(tz=UTC),
        "raw": dict(params),
        "reply_to": params.get("OriginalRepliedMessageSid", ""),
    }
    text = params.get("Body", "")
    try:
        media_count = int(params.get("NumMedia") or 0)
    except ValueError as exc:
        raise ValueError(f"Twilio webhook: bad NumMedia {params.get('NumMedia')!r}") from exc
    events: list[InboundEvent] = []
    for index in range(media_count):
        url = params.get(f"MediaUrl{index}", "")
        mime_type = params.get(f"MediaContentType{index}", "")
        match = _MEDIA_SID.search(url)
        ref = f"{match.group(1)}/{match.group(2)}" if match else url
        events.append(
            InboundMessage(
                provider_message_id=sid if index == 0 else f"{sid}:{index}",
                kind=_media_kind(mime_type),
                text=text if index == 0 else "",
                media=InboundMedia(
                    media_id=ref, url=url, mime_type=mime_type, caption=text if index == 0 else ""
                ),
                **common,
            )
        )
    if events:
        return events
    if params.get("Latitude") and params.get("Longitude"):
        try:
            location = LocationRef(
                latitude=float(params["Latitude"]),
                longitude=float(params["Longitude"]),
                name=params.get("Label", ""),
                address=params.get("Address", ""),
            )
        except ValueError as exc:
            raise ValueError("Twilio webhook: bad Latitude/Longitude") from exc
        return [InboundMessage(provider_message_id=sid, kind=base.LOCATION, location=location, **common)]
    if params.get("ButtonPayload"):
        return [
            InboundMessage(
                provider_message_id=sid,
                kind=base.BUTTON,
                text=params.get("ButtonText", text),
                reply_id=params["ButtonPayload"],
                **common,
            )
        ]
    return [
        InboundMessage(
            provider_message_id=sid,
            kind=base.TEXT,
            text=text,
            is_opt_out=params.get("OptOutType", "").upper() in OPT_OUT_TYPES,
            is_opt_in=params.get("OptOutType", "").upper() in OPT_IN_TYPES,
            **common,
        )
    ]
