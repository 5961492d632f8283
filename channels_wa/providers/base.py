"""The contract every provider implements. Only these neutral dataclasses cross it: no SDK or HTTP
type leaks into inbox, campaigns or the API."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Message kinds shared by outbound and inbound messages.
TEXT, IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER = "text", "image", "video", "audio", "document", "sticker"
TEMPLATE, REACTION, LOCATION = "template", "reaction", "location"
INTERACTIVE, CONTACTS = "interactive", "contacts"
BUTTON, ORDER, SYSTEM, UNSUPPORTED = "button", "order", "system", "unsupported"
MEDIA_KINDS = frozenset({IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER})

# Delivery statuses, in the order they may only move forward (failed is terminal and keeps its error).
STATUS_ORDER = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(frozen=True)
class ChannelConfig:
    """What a provider needs to act for one channel; built from the Channel row (secrets decrypted)."""

    provider: str
    external_id: str  # WhatsApp phone_number_id, page id, Twilio number…
    account_id: str = ""  # WhatsApp Business Account (WABA) id
    phone_number: str = ""  # E.164
    access_token: str = ""
    app_secret: str = ""
    verify_token: str = ""
    base_url: str = ""  # overrides the provider's default API base URL (the sandbox uses this)
    api_version: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderError:
    code: str  # the provider's own code, e.g. "131047"
    title: str
    detail: str = ""
    is_transient: bool = False
    http_status: int | None = None
    retry_after_s: float | None = None
    is_opt_out: bool = False  # the recipient opted out (Twilio 21610): the contact is marked opted out


@dataclass(frozen=True)
class MediaRef:
    link: str = ""
    media_id: str = ""
    caption: str = ""
    filename: str = ""
    mime_type: str = ""


@dataclass(frozen=True)
class TemplateRef:
    name: str
    language: str
    header_params: list[str] = field(default_factory=list)
    header_media: MediaRef | None = None
    header_media_kind: str = ""  # image, video or document when header_media is set
    body_params: list[str] = field(default_factory=list)
    # (button index, sub_type "quick_reply" | "url", parameter)
    button_params: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class InteractiveRef:
    kind: str  # "button" (reply buttons) or "list"
    body: str
    header: str = ""
    footer: str = ""
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (id, title)
    button_text: str = ""  # list only
    # [{"title": ..., "rows": [{"id": ..., "title": ..., "description": ...}]}]
    sections: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class LocationRef:
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    to: str  # E.164 phone or the provider's recipient id
    kind: str
    text: str = ""
    preview_url: bool = False
    media: MediaRef | None = None
    template: TemplateRef | None = None
    interactive: InteractiveRef | None = None
    location: LocationRef | None = None
    reaction_to: str = ""  # provider message id reacted to (kind == reaction; text holds the emoji)
    reply_to: str = ""  # provider message id quoted
    client_ref: str = ""  # our own message id, echoed back by providers that support it
    tag: str = ""  # Messenger message tag (HUMAN_AGENT) for replies after the 24-hour window


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str = ""
    error: ProviderError | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class InboundMedia:
    media_id: str = ""
    url: str = ""
    mime_type: str = ""
    sha256: str = ""
    filename: str = ""
    caption: str = ""
    is_voice: bool = False


@dataclass(frozen=True)
class InboundMessage:
    external_id: str  # which of our channels received it (phone_number_id)
    provider_message_id: str
    from_id: str  # provider's id of the sender (WhatsApp wa_id)
    from_phone: str  # E.164 when known, else ""
    profile_name: str
    timestamp: datetime
    kind: str  # one of the kinds above; anything unknown is UNSUPPORTED
    text: str = ""
    media: InboundMedia | None = None
    location: LocationRef | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    reply_id: str = ""  # interactive/button reply id
    reaction_to: str = ""  # kind == reaction: the message reacted to; text holds the emoji
    reply_to: str = ""  # context: the message this one quotes
    errors: list[ProviderError] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict)
    # Sent by the business itself from elsewhere (Messenger echoes): stored as outbound, once.
    is_echo: bool = False
    echo_ref: str = ""  # the client_ref we attached when the echo is of our own send
    is_opt_out: bool = False  # the customer asked to stop (SMS STOP)
    is_opt_in: bool = False  # the customer asked to start again (SMS START)


@dataclass(frozen=True)
class StatusUpdate:
    external_id: str
    provider_message_id: str
    status: str  # sent, delivered, read, failed
    timestamp: datetime
    recipient_id: str = ""
    error: ProviderError | None = None
    pricing: Mapping[str, Any] = field(default_factory=dict)
    conversation: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    # Messenger acknowledges "everything sent to recipient_id before this time" instead of message ids.
    watermark: datetime | None = None


@dataclass(frozen=True)
class WebhookError:
    """An error Meta reports about the channel or app itself (value.errors), not about one message."""

    external_id: str
    error: ProviderError
    raw: Mapping[str, Any] = field(default_factory=dict)


InboundEvent = InboundMessage | StatusUpdate | WebhookError


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    mime_type: str
    filename: str = ""


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    variable_count: int
    provider_template_id: str = ""


@dataclass(frozen=True)
class ContactProfile:
    name: str = ""
    picture_url: str = ""


class ProviderRequestError(Exception):
    """Raised by a provider's client for calls that do not return a SendResult (media, templates)."""

    def __init__(self, error: ProviderError):
        super().__init__(f"{error.code}: {error.title}")
        self.error = error


class Provider(abc.ABC):
    name: str
    # What the channel allows; the inbox, campaigns and the API read these, never the provider's name.
    identity_kind = "whatsapp"  # whatsapp (wa_id), sms (phone), messenger (PSID), instagram (IGSID)
    has_window = True  # free-form replies only within 24 hours of the customer's last message
    window_s = 24 * 3600
    human_agent_window_s = 0  # > 0: replies up to this long with the HUMAN_AGENT tag, when enabled
    supports_templates = True
    counts_segments = False  # SMS: the number of segments a text costs is shown
    platform_route_kind = ""  # ChannelRoute kind on the platform URL /webhooks/meta/
    wants_webhook_url = False  # the channel's webhook URL goes with each send (Twilio's StatusCallback)

    def __init__(self, config: ChannelConfig):
        self.config = config

    @classmethod
    def segment_count(cls, text: str) -> int | None:
        """How many billable parts a text is split into, on channels that count them."""
        return None

    @abc.abstractmethod
    def send(self, message: OutboundMessage) -> SendResult: ...

    @abc.abstractmethod
    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str], url: str = "") -> bool:
        """True when the raw body carries a valid signature from the provider (`url`: as it was called)."""

    @abc.abstractmethod
    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Every message, status and error in one delivery. Raises ValueError on a malformed body."""

    @abc.abstractmethod
    def fetch_media(self, ref: str) -> FetchedMedia: ...

    def verify_subscription(self, params: Mapping[str, str]) -> str | None:
        """The challenge to echo for a subscription handshake, or None to refuse it."""
        return None

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        raise NotImplementedError(f"{self.name} cannot upload media")

    def mark_read(self, provider_message_id: str) -> SendResult:
        return SendResult()

    def sync_templates(self) -> list[TemplateInfo]:
        return []

    def fetch_profile(self, user_id: str) -> ContactProfile:
        """The customer's name (and picture) from the provider's profile API, where it has one."""
        return ContactProfile()

    def webhook_ack(self, *, created: bool) -> tuple[bytes, str] | None:
        """The body and content type a webhook delivery is answered with; None: the default JSON."""
        return None

    def open(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Set up what sending needs (an HTTP client, its TLS context) before a paced run of sends, so the
        first send is not late for its slot."""

    def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections the provider holds."""
