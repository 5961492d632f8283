"""The one webhook test helper: posts a provider fixture with a valid signature (or a chosen wrong one)
exactly as Meta would, to a channel URL on a company host or to the platform URL."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

from django.test import Client
from django_tenants.utils import schema_context

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta_whatsapp"
FIXTURE_NUMBER_ID = "100000000000001"
FIXTURE_SECOND_NUMBER_ID = "100000000000002"
FIXTURE_TIMESTAMP = "1750000000"
APP_SECRET = "test-app-secret"


def fixture_body(
    name: str,
    *,
    phone_number_id: str = FIXTURE_NUMBER_ID,
    second_number_id: str | None = None,
    fresh: bool = True,
    replace: dict[str, str] | None = None,
) -> bytes:
    """A fixture's bytes for our channel's number; `fresh` moves its timestamps to now."""
    text = (FIXTURES / f"{name}.json").read_text()
    text = text.replace(FIXTURE_NUMBER_ID, phone_number_id)
    if second_number_id:
        text = text.replace(FIXTURE_SECOND_NUMBER_ID, second_number_id)
    if fresh:
        text = text.replace(FIXTURE_TIMESTAMP, str(int(time.time())))
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return text.encode()


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(
    *, host: str, path: str, body: bytes, secret: str | None = APP_SECRET, signature_header: str | None = None
):
    headers = {}
    if signature_header is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature_header
    elif secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature(body, secret)
    return Client().post(path, data=body, content_type="application/json", HTTP_HOST=host, **headers)


def channel_path(channel) -> str:
    return f"/webhooks/whatsapp/{channel.uuid}/"


# Nothing listens here: provider calls made by unit tests fail fast instead of reaching the internet.
CLOSED_PORT_URL = "http://127.0.0.1:9"


def make_channel(
    schema: str,
    *,
    external_id: str = FIXTURE_NUMBER_ID,
    provider: str = "meta_whatsapp",
    app_secret: str = APP_SECRET,
    **extra,
):
    extra.setdefault("api_base_url", CLOSED_PORT_URL)
    from channels_wa.services import channel_create

    with schema_context(schema):
        return channel_create(
            provider=provider,
            name=f"WhatsApp {external_id}",
            external_id=external_id,
            phone_number="+15550000001",
            account_id="200000000000001",
            access_token="test-token",
            app_secret=app_secret,
            verify_token="verify-me",
            **extra,
        )


# Twilio (form-encoded, X-Twilio-Signature over the URL as called) and Messenger / Instagram (JSON,
# X-Hub-Signature-256 like WhatsApp), through the same helper.

TWILIO_FIXTURES = FIXTURES.parent / "twilio"
MESSENGER_FIXTURES = FIXTURES.parent / "meta_messenger"
TWILIO_NUMBER = "+15550009999"
TWILIO_CUSTOMER = "+15551234567"
TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
PAGE_ID = "110000000000001"
INSTAGRAM_ID = "17841400000000001"
PSID = "7000000000000001"
IGSID = "8000000000000001"
FIXTURE_TIMESTAMP_MS = "1750000000000"


def twilio_params(name: str, *, replace: dict[str, str] | None = None) -> dict[str, str]:
    import json

    params = json.loads((TWILIO_FIXTURES / f"{name}.json").read_text())
    for key, value in list(params.items()):
        for old, new in (replace or {}).items():
            value = value.replace(old, new)
        params[key] = value
    return params


def twilio_signature(url: str, params: dict[str, str], auth_token: str = TWILIO_AUTH_TOKEN) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(auth_token).compute_signature(url, params)


def post_twilio(
    *,
    host: str,
    path: str,
    params: dict[str, str],
    auth_token: str = TWILIO_AUTH_TOKEN,
    signature_header: str | None = None,
    signed_url: str | None = None,
    forwarded: tuple[str, str] | None = None,
):
    """POST form params as Twilio does, signed over `signed_url` (default: the URL as called)."""
    from urllib.parse import urlencode

    headers = {}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_PROTO"], headers["HTTP_X_FORWARDED_HOST"] = forwarded
        url = f"{forwarded[0]}://{forwarded[1]}{path}"
    else:
        url = f"http://{host}{path}"
    headers["HTTP_X_TWILIO_SIGNATURE"] = (
        signature_header
        if signature_header is not None
        else twilio_signature(signed_url or url, params, auth_token)
    )
    return Client().post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_HOST=host,
        **headers,
    )


def messenger_body(name: str, *, fresh: bool = True, replace: dict[str, str] | None = None) -> bytes:
    text = (MESSENGER_FIXTURES / f"{name}.json").read_text()
    if fresh:
        text = text.replace(FIXTURE_TIMESTAMP_MS, str(int(time.time() * 1000)))
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return text.encode()


def make_twilio_channel(
    schema: str, *, provider: str = "twilio_sms", external_id: str = TWILIO_NUMBER, **extra
):
    extra.setdefault("api_base_url", CLOSED_PORT_URL)
    from channels_wa.services import channel_create

    with schema_context(schema):
        return channel_create(
            provider=provider,
            name=f"Twilio {provider} {external_id}",
            external_id=external_id,
            phone_number=external_id,
            account_id=TWILIO_ACCOUNT_SID,
            access_token=TWILIO_AUTH_TOKEN,
            **extra,
        )


def make_messenger_channel(
    schema: str, *, provider: str = "meta_messenger", external_id: str | None = None, **extra
):
    extra.setdefault("api_base_url", CLOSED_PORT_URL)
    extra.setdefault("app_secret", APP_SECRET)
    from channels_wa.services import channel_create

    if external_id is None:
        external_id = INSTAGRAM_ID if provider == "meta_instagram" else PAGE_ID
    with schema_context(schema):
        return channel_create(
            provider=provider,
            name=f"{provider} {external_id}",
            external_id=external_id,
            access_token="test-page-token",
            verify_token="verify-me",
            **extra,
        )


def provider_path(channel) -> str:
    from channels_wa.providers.registry import WEBHOOK_PATH

    return f"/webhooks/{WEBHOOK_PATH[channel.provider]}/{channel.uuid}/"
