"""Twilio error codes mapped to the neutral ProviderError, with the transient/permanent split."""

from __future__ import annotations

from channels_wa.providers.base import ProviderError

OPT_OUT_CODES = frozenset({"21610"})  # "Attempt to send to unsubscribed recipient"
# Retrying later can succeed: Twilio's own rate limits and queue overflows.
TRANSIENT_CODES = frozenset({"20429", "14107", "30001", "63018"})

TITLES = {
    "21610": "Recipient opted out",
    "21211": "Invalid 'To' phone number",
    "21408": "Region not enabled",
    "21614": "'To' number is not a valid mobile number",
    "30003": "Unreachable destination handset",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered as spam",
    "30008": "Unknown error",
    "63016": "Outside the 24-hour WhatsApp window: send a template",
    "63024": "Invalid WhatsApp recipient",
}


def twilio_error(code: object, message: str = "", *, http_status: int | None = None) -> ProviderError:
    code_text = str(code) if code not in (None, "") else (f"http_{http_status}" if http_status else "unknown")
    return ProviderError(
        code=code_text,
        title=TITLES.get(code_text) or message or "Twilio error",
        detail=message if message and message != TITLES.get(code_text) else "",
        is_transient=code_text in TRANSIENT_CODES or (http_status is not None and http_status >= 500),
        http_status=http_status,
        is_opt_out=code_text in OPT_OUT_CODES,
    )


def network_error(exc: Exception) -> ProviderError:
    return ProviderError(
        code="network",
        title="Could not reach Twilio",
        detail=f"{type(exc).__name__}: {exc}",
        is_transient=True,
    )
