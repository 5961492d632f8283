"""Meta Graph API error payloads mapped to the neutral ProviderError, with the transient/permanent split."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from channels_wa.providers.base import ProviderError

# Retrying later can succeed: throughput and pair-rate limits, Meta-side outages, Graph rate limits.
TRANSIENT_CODES = frozenset({"130429", "131056", "131000", "131016", "80007", "4", "613"})

NETWORK_CODE = "network"
# The request went out but no answer came back (see network_error).
NO_ANSWER_CODE = "no_answer"
BAD_RESPONSE_CODE = "bad_response"

# Graph API messages look like "(#131047) Re-engagement message"; the prefix repeats the code.
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


def error_from_meta(
    payload: Mapping[str, Any] | None, http_status: int | None, *, retry_after_s: float | None = None
) -> ProviderError:
    """Map a Graph API error response (`{"error": {...}}`) or a webhook error object (`{"code", "title",
    "message", "error_data"}`) to a ProviderError. `http_status` is None for webhook errors."""
    error: Mapping[str, Any] = {}
    if isinstance(payload, Mapping):
        inner = payload.get("error")
        error = inner if isinstance(inner, Mapping) else payload

    raw_code = error.get("code")
    code = (
        str(raw_code) if raw_code not in (None, "") else (f"http_{http_status}" if http_status else "unknown")
    )
    message = _CODE_PREFIX.sub("", str(error.get("message") or "")).strip()
    error_data = error.get("error_data")
    details = str(error_data.get("details") or "") if isinstance(error_data, Mapping) else ""

    title = (
        str(error.get("title") or "")
        or message
        or (f"HTTP {http_status}" if http_status else "Unknown error")
    )
    detail = details or (message if message != title else "")

    is_transient = code in TRANSIENT_CODES or (
        http_status is not None and (http_status >= 500 or http_status == 429)
    )
    return ProviderError(
        code=code,
        title=title,
        detail=detail,
        is_transient=is_transient,
        http_status=http_status,
        retry_after_s=retry_after_s,
    )


def network_error(exc: Exception) -> ProviderError:
    """Connection failures: nothing reached the API, so trying again later is reasonable. But once the
    request was sent, a timeout or a dropped connection while waiting for the answer leaves the outcome
    unknown: the message may have gone out, and sending it again could deliver it twice."""
    if isinstance(exc, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError):
        return ProviderError(
            code=NO_ANSWER_CODE,
            title="No answer from the WhatsApp Cloud API: the message may have gone out, so it is not resent",
            detail=f"{type(exc).__name__}: {exc}",
            is_transient=False,
        )
    return ProviderError(
        code=NETWORK_CODE,
        title="Could not reach the WhatsApp Cloud API",
        detail=f"{type(exc).__name__}: {exc}",
        is_transient=True,
    )


def bad_response_error(http_status: int, detail: str) -> ProviderError:
    """A success status with a body we cannot read. Permanent: the message may have gone out, and
    retrying could send it twice."""
    return ProviderError(
        code=BAD_RESPONSE_CODE,
        title="Unreadable response from the WhatsApp Cloud API",
        detail=detail,
        is_transient=False,
        http_status=http_status,
    )
