"""The only module of this provider that speaks to Twilio: the official `twilio` SDK for sending, and its
HTTP client (with the account's credentials) for media. Failures come back as the project's own errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels_wa.providers.base import ChannelConfig, ProviderRequestError

from .errors import network_error, twilio_error

TWILIO_API = "https://api.twilio.com"
CONTENT_API = "https://content.twilio.com"
MAX_TEMPLATES = 1000
# The SDK logs every request at INFO; keep our logs to what matters.
SDK_LOGGER = logging.getLogger("channels_wa.providers.twilio.sdk")
SDK_LOGGER.setLevel(logging.WARNING)
DEFAULT_TIMEOUT_S = 10.0


class _BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, pointed at another base URL (a proxy, the loopback sandbox)."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201 - the SDK's signature
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        elif url.startswith(CONTENT_API):
            url = self.base_url + "/content" + url[len(CONTENT_API) :]
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str
    num_segments: int | None


class TwilioClient:
    """Twilio calls for one channel: account SID in `account_id`, auth token in `access_token`."""

    def __init__(self, config: ChannelConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.config = config
        self.base_url = (config.base_url or TWILIO_API).rstrip("/")
        self.timeout_s = timeout_s
        self._client: Client | None = None

    @property
    def sdk(self) -> Client:
        if self._client is None:
            http_client = (
                _BaseUrlHttpClient(self.base_url, timeout=self.timeout_s, logger=SDK_LOGGER)
                if self.base_url != TWILIO_API
                else TwilioHttpClient(timeout=self.timeout_s, logger=SDK_LOGGER)
            )
            self._client = Client(self.config.account_id, self.config.access_token, http_client=http_client)
        return self._client

    def open(self) -> None:
        self.sdk  # noqa: B018 - creates the SDK client now

    def close(self) -> None:
        if self._client is not None and getattr(self._client.http_client, "session", None) is not None:
            self._client.http_client.session.close()
        self._client = None

    def create_message(self, params: Mapping[str, Any]) -> SentMessage:
        """POST /2010-04-01/Accounts/{sid}/Messages.json through the SDK."""
        try:
            message = self.sdk.messages.create(**params)
        except TwilioRestException as exc:
            raise ProviderRequestError(twilio_error(exc.code, exc.msg, http_status=exc.status)) from exc
        except TwilioException as exc:  # connection failures and the like
            raise ProviderRequestError(network_error(exc)) from exc
        except OSError as exc:
            raise ProviderRequestError(network_error(exc)) from exc
        segments = getattr(message, "num_segments", None)
        return SentMessage(
            sid=str(message.sid or ""),
            status=str(message.status or ""),
            num_segments=int(segments) if str(segments or "").isdigit() else None,
        )

    def list_templates(self) -> list[dict[str, Any]]:
        """Content API templates with their WhatsApp approval (GET /v1/ContentAndApprovals)."""
        try:
            items = self.sdk.content.v1.content_and_approvals.list(limit=MAX_TEMPLATES)
        except TwilioRestException as exc:
            raise ProviderRequestError(twilio_error(exc.code, exc.msg, http_status=exc.status)) from exc
        except (TwilioException, OSError) as exc:
            raise ProviderRequestError(network_error(exc)) from exc
        return [
            {
                "sid": item.sid or "",
                "friendly_name": item.friendly_name or "",
                "language": item.language or "",
                "types": item.types or {},
                "approval_requests": item.approval_requests or {},
            }
            for item in items
        ]

    def media_url(self, message_sid: str, media_sid: str) -> str:
        return (
            f"{self.base_url}/2010-04-01/Accounts/{self.config.account_id}"
            f"/Messages/{message_sid}/Media/{media_sid}"
        )

    def download_media(self, url: str) -> tuple[bytes, str]:
        """Media URLs need the account's credentials (HTTP basic) and redirect to the file."""
        try:
            response = httpx.get(
                url,
                auth=(self.config.account_id, self.config.access_token),
                follow_redirects=True,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ProviderRequestError(network_error(exc)) from exc
        if not response.is_success:
            raise ProviderRequestError(
                twilio_error(
                    f"http_{response.status_code}", response.text[:200], http_status=response.status_code
                )
            )
        return response.content, response.headers.get("content-type", "").split(";")[0]
