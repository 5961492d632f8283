"""Every API v1 endpoint refuses: no key (401), a revoked or expired key (401), another company's key
(401), a key without the endpoint's scope (403) and a caller outside the key's IP allowlist (403)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from api.services import api_key_revoke
from tests.api.conftest import Api, issue_key

UUID = "00000000-0000-0000-0000-000000000000"
ENDPOINTS = [
    ("get", "/api/v1/conversations"),
    ("get", "/api/v1/conversations/1"),
    ("patch", "/api/v1/conversations/1"),
    ("get", "/api/v1/conversations/1/messages"),
    ("post", "/api/v1/conversations/1/messages"),
    ("post", "/api/v1/conversations/1/notes"),
    ("post", "/api/v1/messages"),
    ("get", "/api/v1/messages/1"),
    ("get", "/api/v1/contacts"),
    ("post", "/api/v1/contacts"),
    ("get", "/api/v1/contacts/1"),
    ("patch", "/api/v1/contacts/1"),
    ("delete", "/api/v1/contacts/1"),
    ("post", "/api/v1/contacts/import"),
    ("post", "/api/v1/contacts/1/merge"),
    ("get", "/api/v1/channels"),
    ("post", "/api/v1/channels"),
    ("get", "/api/v1/channels/1"),
    ("patch", "/api/v1/channels/1"),
    ("delete", "/api/v1/channels/1"),
    ("get", "/api/v1/channels/1/status"),
    ("get", "/api/v1/channels/1/templates"),
    ("post", "/api/v1/channels/1/templates/sync"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/1"),
    ("patch", "/api/v1/webhooks/1"),
    ("delete", "/api/v1/webhooks/1"),
    ("get", "/api/v1/webhooks/1/deliveries"),
    ("post", "/api/v1/webhooks/1/test"),
    ("post", f"/api/v1/webhook-deliveries/{UUID}/retry"),
]


def call(api: Api, method: str, path: str):
    if method in ("get", "delete"):
        return getattr(api.client, method)(path, **api.headers())
    return getattr(api.client, method)(path, data="{}", content_type="application/json", **api.headers())


@pytest.fixture
def keys(alpha, beta):
    revoked = issue_key("alpha")
    with schema_context("alpha"):
        api_key_revoke(key=revoked.key)
    return {
        "none": None,
        "revoked": revoked.plaintext,
        "expired": issue_key("alpha", expires_at=timezone.now() - timedelta(seconds=1)).plaintext,
        "other company": issue_key("beta").plaintext,
        "no scope": issue_key("alpha", scopes=["campaigns:write"]).plaintext,
        "outside allowlist": issue_key("alpha", allowed_cidrs=["192.0.2.0/24"]).plaintext,
    }


EXPECTED = {
    "none": (401, "not_authenticated"),
    "revoked": (401, "api_key_revoked"),
    "expired": (401, "api_key_expired"),
    "other company": (401, "invalid_api_key"),
    "no scope": (403, "insufficient_scope"),
    "outside allowlist": (403, "ip_not_allowed"),
}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_callers_it_must_refuse(keys, method, path):
    for name, key in keys.items():
        response = call(Api("alpha.localhost", key), method, path)
        status, code = EXPECTED[name]
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
            name,
            method,
            path,
        )
