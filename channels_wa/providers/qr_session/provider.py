"""QR-code WhatsApp sessions behind the common provider interface. Sends are handed to the runner that
holds the session (see routing.py); the runner applies pacing and speaks to WhatsApp."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from django.db import connection

from channels_wa.providers.base import (
    FetchedMedia,
    InboundEvent,
    OutboundMessage,
    Provider,
    ProviderError,
    ProviderRequestError,
    SendResult,
)
from channels_wa.providers.qr_session.routing import SessionUnavailable, runner_call


def _unavailable(detail: str) -> SendResult:
    return SendResult(
        error=ProviderError(
            code="session_unavailable",
            title="The WhatsApp session is not available",
            detail=detail,
            is_transient=True,
        )
    )


class QRSessionProvider(Provider):
    name = "qr_session"
    has_window = False  # WhatsApp Web has no 24-hour customer service window (a Cloud API rule)
    supports_templates = False  # templates are a Cloud API feature

    def send(self, message: OutboundMessage) -> SendResult:
        from channels_wa.models import Channel

        channel_id = (
            Channel.objects.filter(provider=self.name, external_id=self.config.external_id)
            .values_list("id", flat=True)
            .first()
        )
        if channel_id is None:
            return SendResult(error=ProviderError(code="unknown_channel", title="No such QR-session channel"))
        try:
            reply = runner_call(
                schema_name=connection.schema_name,
                channel_id=channel_id,
                op="send",
                payload={"message": asdict(message)},
            )
        except SessionUnavailable as exc:
            return _unavailable(str(exc))
        if reply.ok:
            return SendResult(provider_message_id=reply.data["provider_message_id"])
        error = reply.data.get("error") or {}
        return SendResult(
            error=ProviderError(
                code=error.get("code", "qr_error"),
                title=error.get("title", "The WhatsApp session could not send"),
                detail=error.get("detail", ""),
                is_transient=bool(error.get("is_transient", True)),
                retry_after_s=error.get("retry_after_s"),
            )
        )

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        return False  # QR sessions have no webhooks: events arrive over the session itself

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        raise ValueError("QR sessions receive no webhooks")

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        raise ProviderRequestError(
            ProviderError(
                code="not_supported",
                title="QR-code sessions send media by link; uploading ahead is not supported",
            )
        )

    def fetch_media(self, ref: str) -> FetchedMedia:
        """Download a received file through the runner holding the session (it has the keys)."""
        import base64

        from inbox.models import Message

        message = (
            Message.objects.filter(
                channel__provider=self.name,
                channel__external_id=self.config.external_id,
                media_provider_id=ref,
            )
            .only("raw", "media_mime_type", "channel_id")
            .first()
        )
        if message is None or not message.raw.get("media_message"):
            raise ProviderRequestError(ProviderError(code="media_unknown", title="No such received file"))
        try:
            reply = runner_call(
                schema_name=connection.schema_name,
                channel_id=message.channel_id,
                op="download",
                payload={"media_message": message.raw["media_message"]},
            )
        except SessionUnavailable as exc:
            raise ProviderRequestError(
                ProviderError(code="session_unavailable", title=str(exc), is_transient=True)
            ) from exc
        if not reply.ok:
            error = reply.data.get("error") or {}
            raise ProviderRequestError(
                ProviderError(
                    code=error.get("code", "qr_error"),
                    title=error.get("title", "Download failed"),
                    is_transient=bool(error.get("is_transient", True)),
                )
            )
        return FetchedMedia(
            content=base64.b64decode(reply.data["content"]), mime_type=message.media_mime_type
        )
