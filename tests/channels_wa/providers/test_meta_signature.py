"""Webhook signature verification and the GET subscription handshake."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from channels_wa.providers.base import ChannelConfig
from channels_wa.providers.meta_whatsapp import MetaWhatsAppProvider

SECRET = "app-secret-123"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def provider(**overrides) -> MetaWhatsAppProvider:
    config = {"provider": "meta_whatsapp", "external_id": "100000000000001", "app_secret": SECRET}
    config.update(verify_token="verify-me")
    config.update(overrides)
    return MetaWhatsAppProvider(ChannelConfig(**config))


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("header", ["X-Hub-Signature-256", "x-hub-signature-256", "X-HUB-SIGNATURE-256"])
def test_valid_signature_any_header_case(header):
    assert provider().verify_webhook(body=BODY, headers={header: signature(BODY)}) is True


def test_signature_of_another_body_is_refused():
    assert (
        provider().verify_webhook(body=BODY + b" ", headers={"X-Hub-Signature-256": signature(BODY)}) is False
    )


def test_signature_with_another_secret_is_refused():
    headers = {"X-Hub-Signature-256": signature(BODY, "other")}
    assert provider().verify_webhook(body=BODY, headers=headers) is False


@pytest.mark.parametrize("value", ["", "sha256=", "deadbeef", "sha1=abc", "sha256=é"])
def test_malformed_signature_is_refused(value):
    assert provider().verify_webhook(body=BODY, headers={"X-Hub-Signature-256": value}) is False


def test_missing_signature_is_refused():
    assert provider().verify_webhook(body=BODY, headers={"Content-Type": "application/json"}) is False


def test_no_app_secret_refuses_everything():
    headers = {"X-Hub-Signature-256": signature(BODY, "")}
    assert provider(app_secret="").verify_webhook(body=BODY, headers=headers) is False


def test_subscription_handshake_echoes_the_challenge():
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    assert provider().verify_subscription(params) == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"},
        {"hub.verify_token": "verify-me", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
)
def test_subscription_handshake_refused(params):
    assert provider().verify_subscription(params) is None


def test_subscription_refused_when_no_verify_token_configured():
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert provider(verify_token="").verify_subscription(params) is None
