"""Authentication, scopes, limits, idempotency and signed requests, on a real endpoint."""

import hashlib
import hmac
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from api.models import ApiKey
from api.services import api_key_revoke
from api.tasks import flush_api_key_usage
from tenants.models import Plan
from tests.api.conftest import Api, issue_key


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def test_no_key_is_401_with_a_hint(alpha):
    error = assert_error(Api("alpha.localhost", None).get("/api/v1/conversations"), 401, "not_authenticated")
    assert "Bearer" in error["message"]


def test_malformed_and_unknown_keys_are_401(alpha):
    assert_error(Api("alpha.localhost", "nonsense").get("/api/v1/me"), 401, "invalid_api_key")
    assert_error(
        Api("alpha.localhost", "od_live_abcd1234_" + "0" * 48).get("/api/v1/me"), 401, "invalid_api_key"
    )


def test_a_key_answers_for_its_company_and_is_tracked(api, alpha_key):
    flush_api_key_usage()  # what earlier tests' keys counted (the test Redis is shared by the session)
    for _ in range(3):
        response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["company"] == "alpha" and response.json()["role"] == "api_key"
    assert flush_api_key_usage() == 1  # the periodic task adds the counted uses to the key's row
    api.get("/api/v1/me")
    flush_api_key_usage()
    with schema_context("alpha"):
        key = ApiKey.objects.get(pk=alpha_key.key.pk)
        assert key.usage_count == 4 and key.last_used_at is not None
        assert alpha_key.plaintext not in str(ApiKey.objects.values_list())  # only the hash is stored


def test_another_companys_key_is_401_on_this_host(alpha, beta):
    beta_key = issue_key("beta")
    assert_error(Api("alpha.localhost", beta_key.plaintext).get("/api/v1/me"), 401, "invalid_api_key")


def test_missing_scope_is_403(alpha):
    read_only = issue_key("alpha", scopes=["conversations:read"])
    api = Api("alpha.localhost", read_only.plaintext)
    assert api.get("/api/v1/conversations").status_code == 200
    error = assert_error(
        api.post("/api/v1/messages", {"channel_id": 1, "to": "+15551234567", "text": "x"}),
        403,
        "insufficient_scope",
    )
    assert error["details"] == {"scope": "messages:send"}


def test_revoked_and_expired_keys_are_401(alpha):
    revoked = issue_key("alpha")
    assert Api("alpha.localhost", revoked.plaintext).get("/api/v1/me").status_code == 200  # now cached
    with schema_context("alpha"):
        api_key_revoke(key=revoked.key)
    assert_error(Api("alpha.localhost", revoked.plaintext).get("/api/v1/me"), 401, "api_key_revoked")
    expired = issue_key("alpha", expires_at=timezone.now() - timedelta(minutes=1))
    assert_error(Api("alpha.localhost", expired.plaintext).get("/api/v1/me"), 401, "api_key_expired")


def test_ip_allowlist(alpha):
    elsewhere = issue_key("alpha", allowed_cidrs=["10.0.0.0/8"])
    assert_error(Api("alpha.localhost", elsewhere.plaintext).get("/api/v1/me"), 403, "ip_not_allowed")
    here = issue_key("alpha", allowed_cidrs=["127.0.0.0/8"])
    assert Api("alpha.localhost", here.plaintext).get("/api/v1/me").status_code == 200


def test_rate_limit_headers_and_429(api):
    Plan.objects.filter(code="pro").update(api_requests_per_minute=3)
    responses = [api.get("/api/v1/me") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r["X-RateLimit-Limit"] == "3" for r in responses)
    error = assert_error(responses[3], 429, "rate_limited")
    assert int(responses[3]["Retry-After"]) >= 1 and error["details"]["limit_per_minute"] == 3


def test_a_wrong_secret_never_spends_the_keys_rate(api, alpha_key):
    """Requests with the key's prefix but another secret are refused before any token is taken."""
    Plan.objects.filter(code="pro").update(api_requests_per_minute=3)
    prefix = alpha_key.key.prefix
    impostor = Api("alpha.localhost", f"od_live_{prefix}_" + "0" * 48)
    assert api.get("/api/v1/me").status_code == 200  # the key's record is cached now
    for _ in range(5):
        assert_error(impostor.get("/api/v1/me"), 401, "invalid_api_key")
    assert [api.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]


def test_keys_checked_in_python_are_throttled_and_counted_too(alpha):
    """Keys with an address allowlist, an expiry or signed requests take the two-step path: same limit,
    same headers, same counting."""
    flush_api_key_usage()
    Plan.objects.filter(code="pro").update(api_requests_per_minute=2)
    for issued in (
        issue_key("alpha", allowed_cidrs=["127.0.0.0/8"]),
        issue_key("alpha", expires_at=timezone.now() + timedelta(days=1)),
    ):
        api = Api("alpha.localhost", issued.plaintext)
        responses = [api.get("/api/v1/me") for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert [r["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert flush_api_key_usage() == 2


def test_a_cached_key_that_expires_meanwhile_is_refused(alpha, monkeypatch):
    issued = issue_key("alpha", expires_at=timezone.now() + timedelta(minutes=5))
    api = Api("alpha.localhost", issued.plaintext)
    assert api.get("/api/v1/me").status_code == 200  # cached with its expiry
    later = timezone.now() + timedelta(minutes=6)
    monkeypatch.setattr("api.services.timezone.now", lambda: later)
    assert_error(api.get("/api/v1/me"), 401, "api_key_expired")


def test_idempotency_replays_and_conflicts(api):
    key = str(uuid.uuid4())
    first = api.post("/api/v1/conversations/999/notes", {"body": "hi"}, headers={"Idempotency-Key": key})
    again = api.post("/api/v1/conversations/999/notes", {"body": "hi"}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 404
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = api.post("/api/v1/conversations/999/notes", {"body": "bye"}, headers={"Idempotency-Key": key})
    assert_error(other, 409, "idempotency_conflict")


def signed_headers(
    secret: str,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    request_id: str | None = None,
) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    message = f"{timestamp}.{method}.{path}.".encode() + body
    return {
        "X-OmniDesk-Timestamp": str(timestamp),
        "X-Request-Id": request_id or str(uuid.uuid4()),
        "X-OmniDesk-Signature": hmac.new(secret.encode(), message, hashlib.sha256).hexdigest(),
    }


def test_signed_requests_good_stale_replayed_and_bad(alpha):
    issued = issue_key("alpha", requires_signature=True)
    api = Api("alpha.localhost", issued.plaintext)
    secret = issued.signing_secret

    good = signed_headers(secret, "GET", "/api/v1/me", b"")
    assert api.get("/api/v1/me", headers=good).status_code == 200
    assert_error(api.get("/api/v1/me", headers=good), 401, "replayed_request")
    stale = signed_headers(secret, "GET", "/api/v1/me", b"", timestamp=int(time.time()) - 301)
    assert_error(api.get("/api/v1/me", headers=stale), 401, "stale_request")
    bad = signed_headers("wrong-secret", "GET", "/api/v1/me", b"")
    assert_error(api.get("/api/v1/me", headers=bad), 401, "invalid_signature")
    assert_error(api.get("/api/v1/me"), 401, "invalid_signature")


def test_create_api_key_command_prints_the_key_last(alpha, capsys):
    call_command(
        "create_api_key", "--tenant", "alpha", "--name", "CRM", "--scopes", "messages:send", "messages:read"
    )
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("od_live_")
    response = Api("alpha.localhost", key).get("/api/v1/me")
    assert response.json()["scopes"] == ["messages:read", "messages:send"]


def test_unknown_scopes_are_refused(alpha):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        issue_key("alpha", scopes=["messages:send", "everything"])


def test_owners_create_keys_in_the_dashboard_and_see_them_once(alpha):
    from django.contrib.messages import get_messages

    from tests.helpers import host_client, login

    client = host_client("alpha.localhost")
    login(client, "alpha.localhost", alpha.owner_email)
    response = client.post(
        "/admin/api/apikey/add/",
        {"name": "Zapier", "scopes": ["messages:read"], "allowed_cidrs": "", "expires_at": ""},
        follow=True,
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)] or [response.content.decode()]
    plaintext = next(word for text in shown for word in text.split() if word.startswith("od_live_"))
    assert Api("alpha.localhost", plaintext).get("/api/v1/me").json()["scopes"] == ["messages:read"]
    listing = client.get("/admin/api/apikey/").content.decode()
    assert "Zapier" in listing and plaintext not in listing
    bad = client.post(
        "/admin/api/apikey/add/",
        {"name": "x", "scopes": ["messages:read"], "allowed_cidrs": "not-a-network", "expires_at": ""},
    )
    assert bad.status_code == 200 and "is not an IP network" in bad.content.decode()
