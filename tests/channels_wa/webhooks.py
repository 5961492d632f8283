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
