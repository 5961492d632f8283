"""Messenger (`object: page`) and Instagram (`object: instagram`) webhook deliveries: entry[].messaging[]
messages, echoes, postbacks, reactions, reads and deliveries, parsed into neutral events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels_wa.providers import base
from channels_wa.providers.base import InboundEvent, InboundMedia, InboundMessage, LocationRef, StatusUpdate

logger = logging.getLogger(__name__)

OBJECTS = {"page": "meta_messenger", "instagram": "meta_instagram"}
# messaging[] event types that carry nothing for the inbox; anything else unknown is logged.
IGNORED_EVENTS = frozenset(
    {
        "optin",
        "referral",
        "account_linking",
        "policy_enforcement",
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
        "app_roles",
        "standby",
        "game_play",
        "handover",
    }
)
ATTACHMENT_KINDS = {
    "image": base.IMAGE,
    "video": base.VIDEO,
    "audio": base.AUDIO,
    "file": base.DOCUMENT,
    "sticker": base.STICKER,
    "story_mention": base.IMAGE,
    "ig_reel": base.VIDEO,
    "reel": base.VIDEO,
}


def load(body: bytes | str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Messenger webhook: body is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise ValueError("Messenger webhook: body is not a JSON object")
    if payload.get("object") not in OBJECTS:
        raise ValueError(
            f"Messenger webhook: object is {payload.get('object')!r}, expected page or instagram"
        )
    if not isinstance(payload.get("entry"), list):
        raise ValueError("Messenger webhook: entry is missing or not a list")
    return payload


def entry_ids(payload: Any) -> list[str]:
    """The page / Instagram account ids a delivery concerns, to route it (tolerates malformed payloads)."""
    found: list[str] = []
    if isinstance(payload, Mapping) and isinstance(payload.get("entry"), list):
        for entry in payload["entry"]:
            entry_id = str(entry.get("id") or "") if isinstance(entry, Mapping) else ""
            if entry_id and entry_id not in found:
                found.append(entry_id)
    return found


def parse(body: bytes, *, external_id: str | None = None) -> list[InboundEvent]:
    payload = load(body)
    is_instagram = payload["object"] == "instagram"
    events: list[InboundEvent] = []
    for entry in payload["entry"]:
        if not isinstance(entry, Mapping):
            raise ValueError("Messenger webhook: entry item is not an object")
        entry_id = str(entry.get("id") or "")
        if external_id is not None and entry_id != external_id:
            continue
        messaging = entry.get("messaging", [])
        if not isinstance(messaging, list):
            raise ValueError("Messenger webhook: entry.messaging is not a list")
        for item in messaging:
            if not isinstance(item, Mapping):
                raise ValueError("Messenger webhook: messaging item is not an object")
            event = _parse_item(item, entry_id, is_instagram)
            if event is not None:
                events.append(event)
    return events


def _parse_item(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> InboundEvent | None:
    for key, parser in _EVENT_PARSERS.items():
        if key in item:
            return parser(item, entry_id, is_instagram)
    keys = set(item) - {"sender", "recipient", "timestamp"}
    if not keys & IGNORED_EVENTS:
        logger.warning("Messenger webhook: unknown messaging event %s ignored", sorted(keys))
    return None


def _ids(item: Mapping[str, Any]) -> tuple[str, str]:
    sender = item.get("sender") if isinstance(item.get("sender"), Mapping) else {}
    recipient = item.get("recipient") if isinstance(item.get("recipient"), Mapping) else {}
    return str(sender.get("id") or ""), str(recipient.get("id") or "")


def _timestamp(value: Any) -> datetime:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Messenger webhook: bad timestamp {value!r}") from exc
    # Messenger sends milliseconds; tolerate seconds.
    return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)


def _message(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> InboundMessage:
    message = item["message"]
    if not isinstance(message, Mapping):
        raise ValueError("Messenger webhook: message is not an object")
    mid = str(message.get("mid") or "")
    if not mid:
        raise ValueError("Messenger webhook: message without mid")
    sender, recipient = _ids(item)
    is_echo = bool(message.get("is_echo"))
    customer = recipient if is_echo else sender
    if not customer:
        raise ValueError("Messenger webhook: message without sender")
    text = str(message.get("text") or "")
    fields: dict[str, Any] = {"kind": base.TEXT, "text": text}
    reply_to = message.get("reply_to") if isinstance(message.get("reply_to"), Mapping) else {}
    story = reply_to.get("story") if isinstance(reply_to.get("story"), Mapping) else None
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, Mapping)]
    if attachments:
        fields = _attachment(attachments[0], text)
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, Mapping):
        fields = {"kind": base.BUTTON, "text": text, "reply_id": str(quick_reply.get("payload") or "")}
    if message.get("is_unsupported") or message.get("is_deleted"):
        fields = {"kind": base.UNSUPPORTED, "text": text}
    raw = dict(item)
    if story is not None:
        raw["story_reply"] = {"url": str(story.get("url") or ""), "id": str(story.get("id") or "")}
    return InboundMessage(
        external_id=entry_id,
        provider_message_id=mid,
        from_id=customer,
        from_phone="",
        profile_name="",
        timestamp=_timestamp(item.get("timestamp")),
        reply_to=str(reply_to.get("mid") or ""),
        raw=raw,
        is_echo=is_echo,
        echo_ref=str(message.get("metadata") or "") if is_echo else "",
        **fields,
    )


def _attachment(attachment: Mapping[str, Any], text: str) -> dict[str, Any]:
    kind = str(attachment.get("type") or "")
    payload = attachment.get("payload") if isinstance(attachment.get("payload"), Mapping) else {}
    if kind == "location":
        coordinates = payload.get("coordinates") if isinstance(payload.get("coordinates"), Mapping) else {}
        try:
            location = LocationRef(latitude=float(coordinates["lat"]), longitude=float(coordinates["long"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("Messenger webhook: location without coordinates") from exc
        return {"kind": base.LOCATION, "location": location, "text": text}
    url = str(payload.get("url") or "")
    if kind in ATTACHMENT_KINDS and url:
        label = "Story mention" if kind == "story_mention" else text
        return {"kind": ATTACHMENT_KINDS[kind], "text": label, "media": InboundMedia(media_id=url, url=url)}
    if kind in ("share", "fallback", "template", "ig_post"):
        title = str(payload.get("title") or attachment.get("title") or "")
        return {
            "kind": base.TEXT,
            "text": " ".join(part for part in (text, title, url) if part) or f"[{kind}]",
        }
    logger.info("Messenger webhook: attachment type %r kept as unsupported", kind)
    return {"kind": base.UNSUPPORTED, "text": text}


def _postback(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> InboundMessage:
    postback = item["postback"] if isinstance(item["postback"], Mapping) else {}
    sender, _ = _ids(item)
    timestamp = _timestamp(item.get("timestamp"))
    # Postbacks from Messenger carry a mid; older ones do not, so the timestamp makes the id.
    mid = str(postback.get("mid") or f"postback:{sender}:{int(timestamp.timestamp() * 1000)}")
    return InboundMessage(
        external_id=entry_id,
        provider_message_id=mid,
        from_id=sender,
        from_phone="",
        profile_name="",
        timestamp=timestamp,
        kind=base.BUTTON,
        text=str(postback.get("title") or ""),
        reply_id=str(postback.get("payload") or ""),
        raw=dict(item),
    )


def _reaction(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> InboundMessage:
    reaction = item["reaction"] if isinstance(item["reaction"], Mapping) else {}
    sender, _ = _ids(item)
    timestamp = _timestamp(item.get("timestamp"))
    target = str(reaction.get("mid") or "")
    emoji = (
        ""
        if reaction.get("action") == "unreact"
        else str(reaction.get("emoji") or reaction.get("reaction") or "")
    )
    return InboundMessage(
        external_id=entry_id,
        provider_message_id=f"reaction:{target}:{sender}:{int(timestamp.timestamp() * 1000)}",
        from_id=sender,
        from_phone="",
        profile_name="",
        timestamp=timestamp,
        kind=base.REACTION,
        text=emoji,
        reaction_to=target,
        raw=dict(item),
    )


def _read(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> StatusUpdate:
    read = item["read"] if isinstance(item["read"], Mapping) else {}
    sender, _ = _ids(item)
    timestamp = _timestamp(item.get("timestamp"))
    if read.get("mid"):  # Instagram names the message
        return StatusUpdate(
            external_id=entry_id,
            provider_message_id=str(read["mid"]),
            status="read",
            timestamp=timestamp,
            recipient_id=sender,
            raw=dict(item),
        )
    return StatusUpdate(
        external_id=entry_id,
        provider_message_id="",
        status="read",
        timestamp=timestamp,
        recipient_id=sender,
        watermark=_timestamp(read.get("watermark")),
        raw=dict(item),
    )


def _delivery(item: Mapping[str, Any], entry_id: str, is_instagram: bool) -> StatusUpdate:
    delivery = item["delivery"] if isinstance(item["delivery"], Mapping) else {}
    sender, _ = _ids(item)
    mids = [str(mid) for mid in delivery.get("mids") or [] if mid]
    timestamp = _timestamp(item.get("timestamp"))
    watermark = _timestamp(delivery["watermark"]) if delivery.get("watermark") else timestamp
    # One status per named message would need a list; a watermark covers them all and the named ones.
    return StatusUpdate(
        external_id=entry_id,
        provider_message_id=mids[0] if len(mids) == 1 else "",
        status="delivered",
        timestamp=timestamp,
        recipient_id=sender,
        watermark=None if len(mids) == 1 else watermark,
        raw=dict(item),
    )


_EVENT_PARSERS: dict[str, Callable[[Mapping[str, Any], str, bool], InboundEvent]] = {
    "message": _message,
    "postback": _postback,
    "reaction": _reaction,
    "read": _read,
    "delivery": _delivery,
}
