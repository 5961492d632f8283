"""The only module of this provider that speaks HTTP: a thin Graph API client for one channel. Every failure
comes back as the project's own error (a SendResult error or ProviderRequestError), never an httpx one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from channels_wa.providers.base import ChannelConfig, ProviderError, ProviderRequestError, SendResult

from .errors import bad_response_error, error_from_meta, network_error

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"
DEFAULT_TIMEOUT_S = 10.0
TEMPLATE_PAGE_SIZE = 100
# A WABA has at most a few hundred templates; the cap only stops a misbehaving server looping forever.
MAX_TEMPLATE_PAGES = 100
TEMPLATE_FIELDS = "id,name,language,status,category,components,parameter_format"


def default_api_version() -> str:
    """The Django setting META_GRAPH_API_VERSION when present, else the version this code was written for."""
    from django.conf import settings

    if settings.configured:
        return getattr(settings, "META_GRAPH_API_VERSION", "") or DEFAULT_API_VERSION
    return DEFAULT_API_VERSION


def default_base_url() -> str:
    """The Django setting META_GRAPH_BASE_URL when present (a proxy, a regional endpoint, a test stub),
    else Meta's Graph API."""
    from django.conf import settings

    if settings.configured:
        return getattr(settings, "META_GRAPH_BASE_URL", "") or DEFAULT_BASE_URL
    return DEFAULT_BASE_URL


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str
    sha256: str = ""
    file_size: int | None = None


class MetaGraphClient:
    """Graph API calls for one WhatsApp phone number over one pooled httpx.Client; close() it when done."""

    def __init__(self, config: ChannelConfig, *, timeout_s: float | None = None):
        self.config = config
        self.base_url = (config.base_url or default_base_url()).rstrip("/")
        version = config.api_version or default_api_version()
        self.api_version = version if version.startswith("v") else f"v{version}"
        if timeout_s is None:
            timeout_s = float(config.options.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.timeout_s = timeout_s
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        # Created on first use: parse-only providers never pay for the TLS context.
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_s),
                headers={"Authorization": f"Bearer {self.config.access_token}"},
            )
        return self._client

    def open(self) -> None:
        self._http  # noqa: B018 - creates the pooled client now

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> MetaGraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.api_version}/{path.lstrip('/')}"

    # Messages: failures are returned on the SendResult so the caller can decide to retry.

    def send_message(self, payload: Mapping[str, Any]) -> SendResult:
        """POST /{phone_number_id}/messages; the result carries the wamid or the mapped error."""
        try:
            body = self._request("POST", self.url(f"{self.config.external_id}/messages"), json=payload)
        except ProviderRequestError as exc:
            return SendResult(error=exc.error)
        messages = body.get("messages")
        message_id = ""
        if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
            message_id = str(messages[0].get("id") or "")
        if not message_id:
            return SendResult(error=bad_response_error(200, f"no messages[0].id in {body!r:.300}"), raw=body)
        return SendResult(provider_message_id=message_id, raw=body)

    def mark_read(self, provider_message_id: str) -> SendResult:
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": provider_message_id}
        try:
            body = self._request("POST", self.url(f"{self.config.external_id}/messages"), json=payload)
        except ProviderRequestError as exc:
            return SendResult(error=exc.error)
        return SendResult(provider_message_id=provider_message_id, raw=body)

    # Media and templates: failures raise ProviderRequestError.

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """POST /{phone_number_id}/media (multipart); returns the media id."""
        body = self._request(
            "POST",
            self.url(f"{self.config.external_id}/media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename or "upload", content, mime_type)},
        )
        media_id = str(body.get("id") or "")
        if not media_id:
            raise ProviderRequestError(bad_response_error(200, f"no id in {body!r:.300}"))
        return media_id

    def get_media_info(self, media_id: str) -> MediaInfo:
        """GET /{media_id}: the short-lived download URL and what it points to."""
        body = self._request("GET", self.url(media_id))
        url = str(body.get("url") or "")
        if not url:
            raise ProviderRequestError(bad_response_error(200, f"no url in {body!r:.300}"))
        file_size = body.get("file_size")
        return MediaInfo(
            url=url,
            mime_type=str(body.get("mime_type") or ""),
            sha256=str(body.get("sha256") or ""),
            file_size=int(file_size)
            if isinstance(file_size, int | str) and str(file_size).isdigit()
            else None,
        )

    def download_media(self, url: str) -> bytes:
        """The bytes behind a media URL; Meta requires the same bearer token there."""
        response = self._send("GET", url, follow_redirects=True)
        if response.is_success:
            return response.content
        raise ProviderRequestError(self._error_from_response(response))

    def iter_templates(self, waba_id: str) -> Iterator[dict[str, Any]]:
        """Every template of the WABA, following the cursor pagination."""
        url = self.url(f"{waba_id}/message_templates")
        params: dict[str, Any] | None = {"limit": TEMPLATE_PAGE_SIZE, "fields": TEMPLATE_FIELDS}
        seen_cursors: set[str] = set()
        for _ in range(MAX_TEMPLATE_PAGES):
            body = self._request("GET", url, params=params)
            data = body.get("data")
            if isinstance(data, list):
                yield from (item for item in data if isinstance(item, dict))
            paging = body.get("paging") if isinstance(body.get("paging"), Mapping) else {}
            next_url = str(paging.get("next") or "")
            if not next_url:
                return
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), Mapping) else {}
            after = str(cursors.get("after") or "")
            if after:
                # Stay on our own base URL (the sandbox, a proxy) instead of trusting the host inside `next`.
                if after in seen_cursors:
                    return
                seen_cursors.add(after)
                url = self.url(f"{waba_id}/message_templates")
                params = {"limit": TEMPLATE_PAGE_SIZE, "fields": TEMPLATE_FIELDS, "after": after}
            else:
                url, params = _without_access_token(next_url), None

    # Plumbing.

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            error = ProviderError(code="invalid_url", title="Invalid Graph API URL", detail=str(exc))
            raise ProviderRequestError(error) from exc
        except httpx.HTTPError as exc:
            raise ProviderRequestError(network_error(exc)) from exc

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, url, **kwargs)
        if not response.is_success:
            raise ProviderRequestError(self._error_from_response(response))
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderRequestError(
                bad_response_error(response.status_code, f"not JSON: {response.text[:300]!r}")
            ) from exc
        if not isinstance(body, dict):
            raise ProviderRequestError(
                bad_response_error(response.status_code, f"not an object: {body!r:.300}")
            )
        return body

    @staticmethod
    def _error_from_response(response: httpx.Response) -> ProviderError:
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": {"message": response.text[:300] or response.reason_phrase}}
        return error_from_meta(
            payload if isinstance(payload, dict) else None,
            response.status_code,
            retry_after_s=_retry_after_s(response.headers.get("Retry-After")),
        )


def _without_access_token(url: str) -> str:
    """Meta's paging URLs may embed the token; the bearer header already carries it, and URLs get logged."""
    parsed = httpx.URL(url)
    return str(parsed.copy_remove_param("access_token")) if "access_token" in parsed.params else url


def _retry_after_s(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
