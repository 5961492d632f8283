"""The only module that speaks neonize (whatsmeow). Everything else in OmniDesk sees the small
`SessionConnection` interface below, neutral `InboundEvent`s and `SendResult`s.

`NeonizeConnection` is the real one. It keeps whatsmeow's store (identity keys, sessions, the LID map)
in PostgreSQL: neonize opens the database it is given by URL, and we give it our own database with
`search_path=whatsmeow` (a dedicated schema), so a restarted or moved runner finds every logged-in number.

`dispatch_event` turns neonize's own event and protobuf types into listener calls; every connection,
real or the test double at this boundary, reports through it.
"""

from __future__ import annotations

import abc
import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from neonize.proto import Neonize_pb2 as neonize_proto
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from channels_wa.providers import base
from channels_wa.providers.base import (
    InboundMedia,
    InboundMessage,
    LocationRef,
    OutboundMessage,
    ProviderError,
    SendResult,
    StatusUpdate,
)

logger = logging.getLogger(__name__)

PHONE_SERVER, LID_SERVER, GROUP_SERVER = "s.whatsapp.net", "lid", "g.us"
STORE_SCHEMA = "whatsmeow"


class SessionListener(Protocol):
    """What a connection reports to the runner's session."""

    def on_qr(self, code: str) -> None: ...
    def on_paired(self, device_jid: str) -> None: ...
    def on_connected(self) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...
    def on_logged_out(self, reason: str) -> None: ...
    def on_auth_failed(self, reason: str) -> None: ...
    def on_inbound(self, event: InboundMessage) -> None: ...
    def on_status(self, event: StatusUpdate) -> None: ...


class SessionConnection(abc.ABC):
    """One WhatsApp Web connection. `start` returns at once; what happens next arrives on the listener."""

    def __init__(self, *, session_key: str, store_url: str, device_jid: str, listener: SessionListener):
        self.session_key = session_key
        self.store_url = store_url
        self.device_jid = device_jid
        self.listener = listener

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None:
        """Close the connection, keeping the device linked (keys stay in the store)."""

    @abc.abstractmethod
    def logout(self) -> None:
        """Unlink the device from the phone and forget its keys."""

    @abc.abstractmethod
    def send(self, message: OutboundMessage) -> SendResult: ...

    @abc.abstractmethod
    def typing(self, to: str, *, is_typing: bool) -> None: ...

    @abc.abstractmethod
    def pair_phone(self, phone: str) -> str:
        """Ask WhatsApp for an 8-character code to type on the phone instead of scanning."""

    @abc.abstractmethod
    def download(self, media_message: bytes) -> bytes:
        """The decrypted file of a received media message (its serialized waE2E.Message)."""


def store_url_for(database_url: str) -> str:
    """whatsmeow's store: our PostgreSQL database, in the dedicated schema `whatsmeow`."""
    parsed = urlparse(database_url)
    query = dict(parse_qsl(parsed.query))
    query.setdefault("sslmode", "disable")
    query["search_path"] = STORE_SCHEMA
    return urlunparse(parsed._replace(scheme="postgres", query=urlencode(query)))


# --- neonize events → neutral events -------------------------------------------------------------


def jid_text(jid: neonize_proto.JID) -> str:
    return f"{jid.User}@{jid.Server}" if jid.User else ""


def jid_parse(text: str) -> neonize_proto.JID:
    user, _, server = text.partition("@")
    user, _, device = user.partition(":")
    return neonize_proto.JID(
        User=user, Server=server or PHONE_SERVER, Device=int(device or 0), RawAgent=0, Integrator=0
    )


def recipient_jid(to: str) -> neonize_proto.JID:
    """`+15550001111` → a phone JID; `lid:1234` (a contact known only by LID) → a LID JID; `g:1203…` →
    a group."""
    to = to.lstrip("+")
    if to.startswith("lid:"):
        return jid_parse(f"{to[4:]}@{LID_SERVER}")
    if to.startswith("g:"):
        return jid_parse(f"{to[2:]}@{GROUP_SERVER}")
    return jid_parse(f"{to}@{PHONE_SERVER}")


def _sender_identity(source: neonize_proto.MessageSource) -> tuple[str, str]:
    """(phone digits, lid) of a message's sender; either may be unknown ("")."""
    sender, alt = source.Sender, source.SenderAlt
    phone = lid = ""
    if sender.Server == LID_SERVER:
        lid = sender.User
        phone = alt.User if alt.Server == PHONE_SERVER else ""
    elif sender.Server == PHONE_SERVER:
        phone = sender.User
        lid = alt.User if alt.Server == LID_SERVER else ""
    return phone, lid


def _timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds or 0, tz=UTC) if seconds else datetime.now(tz=UTC)


def _context(msg: e2e.Message) -> e2e.ContextInfo | None:
    for name in (
        "extendedTextMessage",
        "imageMessage",
        "videoMessage",
        "audioMessage",
        "documentMessage",
        "stickerMessage",
        "locationMessage",
        "contactMessage",
        "contactsArrayMessage",
    ):
        if msg.HasField(name) and getattr(msg, name).HasField("contextInfo"):
            return getattr(msg, name).contextInfo
    return None


MEDIA_FIELDS = {
    "imageMessage": base.IMAGE,
    "videoMessage": base.VIDEO,
    "audioMessage": base.AUDIO,
    "documentMessage": base.DOCUMENT,
    "stickerMessage": base.STICKER,
}


def _content(msg: e2e.Message) -> dict[str, Any]:
    """kind, text and the kind's details of one WhatsApp message."""
    if msg.HasField("conversation") or msg.conversation:
        return {"kind": base.TEXT, "text": msg.conversation}
    if msg.HasField("extendedTextMessage"):
        return {"kind": base.TEXT, "text": msg.extendedTextMessage.text}
    for field_name, kind in MEDIA_FIELDS.items():
        if msg.HasField(field_name):
            media = getattr(msg, field_name)
            caption = getattr(media, "caption", "") if hasattr(media, "caption") else ""
            return {
                "kind": kind,
                "text": caption,
                "media": InboundMedia(
                    mime_type=media.mimetype,
                    sha256=media.fileSHA256.hex(),
                    filename=getattr(media, "fileName", "") if field_name == "documentMessage" else "",
                    caption=caption,
                    is_voice=bool(getattr(media, "PTT", False)) if field_name == "audioMessage" else False,
                ),
            }
    if msg.HasField("locationMessage"):
        loc = msg.locationMessage
        return {
            "kind": base.LOCATION,
            "location": LocationRef(
                latitude=loc.degreesLatitude,
                longitude=loc.degreesLongitude,
                name=loc.name,
                address=loc.address,
            ),
        }
    if msg.HasField("contactMessage"):
        card = msg.contactMessage
        return {"kind": base.CONTACTS, "contacts": [{"name": card.displayName, "vcard": card.vcard}]}
    if msg.HasField("contactsArrayMessage"):
        cards = msg.contactsArrayMessage.contacts
        return {"kind": base.CONTACTS, "contacts": [{"name": c.displayName, "vcard": c.vcard} for c in cards]}
    if msg.HasField("reactionMessage"):
        reaction = msg.reactionMessage
        return {"kind": base.REACTION, "text": reaction.text, "reaction_to": reaction.key.ID}
    return {"kind": base.UNSUPPORTED}


def message_to_inbound(event: neonize_proto.Message, *, external_id: str) -> InboundMessage | None:
    """A received WhatsApp message as an InboundMessage; None for our own messages echoed back."""
    info, source = event.Info, event.Info.MessageSource
    if source.IsFromMe:
        return None
    phone, lid = _sender_identity(source)
    content = _content(event.Message)
    context = _context(event.Message)
    raw_extra = {}
    if content.get("media") is not None:
        # WhatsApp media is end-to-end encrypted: downloading it later needs the message's media keys.
        content["media"] = replace(content["media"], media_id=info.ID)
        raw_extra["media_message"] = base64.b64encode(event.Message.SerializePartialToString()).decode()
    is_group = source.IsGroup or source.Chat.Server == GROUP_SERVER
    return InboundMessage(
        external_id=external_id,
        provider_message_id=info.ID,
        from_id=phone or f"lid:{lid}",
        from_phone=f"+{phone}" if phone else "",
        profile_name=info.Pushname,
        timestamp=_timestamp(info.Timestamp),
        kind=content["kind"],
        text=content.get("text", ""),
        media=content.get("media"),
        location=content.get("location"),
        contacts=content.get("contacts", []),
        reaction_to=content.get("reaction_to", ""),
        reply_to=context.stanzaID if context is not None else "",
        raw={
            "chat": jid_text(source.Chat),
            "is_group": is_group,
            "sender_lid": lid,
            "sender_phone": phone,
            "type": info.Type,
            **raw_extra,
        },
    )


RECEIPT_STATUS = {
    neonize_proto.Receipt.DELIVERED: "delivered",
    neonize_proto.Receipt.READ: "read",
    neonize_proto.Receipt.PLAYED: "read",
    neonize_proto.Receipt.SERVER_ERROR: "failed",
}


def receipt_to_statuses(event: neonize_proto.Receipt, *, external_id: str) -> list[StatusUpdate]:
    """Receipts of the recipient (not of our own other devices) as delivered/read/failed statuses."""
    status = RECEIPT_STATUS.get(event.Type)
    if status is None or event.MessageSource.IsFromMe:
        return []
    error = (
        ProviderError(code="server_error", title="WhatsApp could not deliver the message")
        if status == "failed"
        else None
    )
    recipient = jid_text(event.MessageSource.Sender) or jid_text(event.MessageSource.Chat)
    return [
        StatusUpdate(
            external_id=external_id,
            provider_message_id=message_id,
            status=status,
            timestamp=_timestamp(event.Timestamp),
            recipient_id=recipient,
            error=error,
        )
        for message_id in event.MessageIDs
    ]


def _enum_name(enum_type, value: int) -> str:
    try:
        return enum_type.Name(value)
    except ValueError:
        return str(value)


def dispatch_event(listener: SessionListener, event: Any, *, external_id: str) -> None:
    """Route one neonize event to the listener. Unknown event types are ignored on purpose."""
    if isinstance(event, neonize_proto.Message):
        inbound = message_to_inbound(event, external_id=external_id)
        if inbound is not None:
            listener.on_inbound(inbound)
    elif isinstance(event, neonize_proto.Receipt):
        for update in receipt_to_statuses(event, external_id=external_id):
            listener.on_status(update)
    elif isinstance(event, neonize_proto.Connected):
        listener.on_connected()
    elif isinstance(event, neonize_proto.PairStatus):
        if event.Status == neonize_proto.PairStatus.SUCCESS:
            listener.on_paired(jid_text(event.ID))
        else:
            listener.on_auth_failed(f"Pairing failed: {event.Error or 'unknown error'}")
    elif isinstance(event, neonize_proto.LoggedOut):
        reason = _enum_name(neonize_proto.ConnectFailureReason, event.Reason)
        listener.on_logged_out(f"Logged out by WhatsApp or the phone ({reason}).")
    elif isinstance(event, neonize_proto.TemporaryBan):
        code = _enum_name(neonize_proto.TemporaryBan.TempBanReason, event.Code)
        until = datetime.fromtimestamp(event.Expire, tz=UTC).isoformat() if event.Expire else "unknown"
        listener.on_auth_failed(f"Temporarily banned by WhatsApp ({code}) until {until}.")
    elif isinstance(event, neonize_proto.ConnectFailure):
        reason = _enum_name(neonize_proto.ConnectFailureReason, event.Reason)
        listener.on_auth_failed(f"WhatsApp refused the connection ({reason}) {event.Message}".strip())
    elif isinstance(event, neonize_proto.ClientOutdated):
        listener.on_auth_failed("WhatsApp says this client is outdated: upgrade the neonize package.")
    elif isinstance(event, neonize_proto.StreamReplaced):
        listener.on_disconnected("Another connection with the same keys took over this session.")
    elif isinstance(event, neonize_proto.KeepAliveTimeout | neonize_proto.StreamError):
        listener.on_disconnected(f"{type(event).__name__}")
    elif isinstance(event, neonize_proto.Disconnected):
        listener.on_disconnected("Disconnected from WhatsApp.")


# --- the real connection -------------------------------------------------------------------------

EVENT_TYPES = (
    neonize_proto.Message,
    neonize_proto.Receipt,
    neonize_proto.Connected,
    neonize_proto.PairStatus,
    neonize_proto.LoggedOut,
    neonize_proto.TemporaryBan,
    neonize_proto.ConnectFailure,
    neonize_proto.ClientOutdated,
    neonize_proto.StreamReplaced,
    neonize_proto.KeepAliveTimeout,
    neonize_proto.StreamError,
    neonize_proto.Disconnected,
)


def _send_error(exc: Exception, *, is_transient: bool = True) -> SendResult:
    return SendResult(
        error=ProviderError(
            code="whatsapp_web_error", title=str(exc)[:200] or type(exc).__name__, is_transient=is_transient
        )
    )


class NeonizeConnection(SessionConnection):
    """whatsmeow through neonize. Not exercised by the test suite: it needs WhatsApp's servers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._client = None
        self._thread: threading.Thread | None = None

    def _external_id(self) -> str:
        return self.session_key

    def start(self) -> None:
        from neonize.client import NewClient

        jid = jid_parse(self.device_jid) if self.device_jid else None
        client = NewClient(self.store_url, jid=jid, uuid=self.session_key, new_device=jid is None)
        for event_type in EVENT_TYPES:
            client.event(event_type)(self._handler())
        client.event.qr(lambda _client, code: self.listener.on_qr(code.decode()))
        self._client = client

        def run() -> None:
            try:
                client.connect()
            except Exception as exc:  # the runner reconnects with backoff
                self.listener.on_disconnected(f"{type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=run, name=f"neonize-{self.session_key}", daemon=True)
        self._thread.start()

    def _handler(self) -> Callable:
        def handle(_client, event) -> None:
            try:
                dispatch_event(self.listener, event, external_id=self._external_id())
            except Exception:
                logger.exception(
                    "QR session %s: event %s not handled", self.session_key, type(event).__name__
                )

        return handle

    def stop(self) -> None:
        if self._client is not None:
            self._client.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def logout(self) -> None:
        if self._client is not None:
            self._client.logout()

    def typing(self, to: str, *, is_typing: bool) -> None:
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        state = ChatPresence.CHAT_PRESENCE_COMPOSING if is_typing else ChatPresence.CHAT_PRESENCE_PAUSED
        try:
            self._client.send_chat_presence(
                recipient_jid(to), state, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
            )
        except Exception as exc:  # a lost typing indicator must not stop the message
            logger.info("QR session %s: typing indicator failed: %s", self.session_key, exc)

    def pair_phone(self, phone: str) -> str:
        return self._client.PairPhone(phone.lstrip("+"), show_push_notification=True)

    def download(self, media_message: bytes) -> bytes:
        message = e2e.Message()
        message.MergeFromString(media_message)
        return self._client.download_any(message)

    def send(self, message: OutboundMessage) -> SendResult:
        from neonize.exc import NeonizeError

        chat = recipient_jid(message.to)
        try:
            response = self._client.send_message(chat, self._build(message, chat))
        except NeonizeError as exc:
            return _send_error(exc)
        except ValueError as exc:
            return _send_error(exc, is_transient=False)
        return SendResult(provider_message_id=response.ID, raw={"timestamp": response.Timestamp})

    def _build(self, message: OutboundMessage, chat: neonize_proto.JID) -> e2e.Message:
        client = self._client
        context = (
            e2e.ContextInfo(stanzaID=message.reply_to, participant=jid_text(chat))
            if message.reply_to
            else None
        )
        if message.kind == base.TEXT:
            if context is None:
                return e2e.Message(conversation=message.text)
            return e2e.Message(
                extendedTextMessage=e2e.ExtendedTextMessage(text=message.text, contextInfo=context)
            )
        if message.kind == base.REACTION:
            return client.build_reaction(chat, chat, message.reaction_to, message.text)
        if message.kind in base.MEDIA_KINDS and message.media and message.media.link:
            media = message.media
            if message.kind == base.IMAGE:
                return client.build_image_message(media.link, caption=media.caption or None)
            if message.kind == base.VIDEO:
                return client.build_video_message(media.link, caption=media.caption or None)
            if message.kind == base.AUDIO:
                return client.build_audio_message(media.link)
            if message.kind == base.DOCUMENT:
                return client.build_document_message(
                    media.link, caption=media.caption or None, filename=media.filename or None
                )
        raise ValueError(f"{message.kind} messages cannot be sent on a QR-code session")
