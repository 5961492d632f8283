"""/api/v1/campaigns: create, list, get, update while draft, start/pause/resume/cancel/duplicate, stats,
recipients as JSON or CSV; scopes, the error shape and tenant isolation."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from inbox.models import Contact
from tests.api.conftest import Api, issue_key


@pytest.fixture
def setup(alpha):
    with schema_context("alpha"):
        channel = Channel.objects.create(
            provider="sandbox", name="API", external_id="api-camp", rate_per_s=80
        )
        Contact.objects.bulk_create(
            [Contact(phone=f"+44770090{i:04d}", name=f"P{i}", tags=["api-vip"]) for i in range(5)]
            + [Contact(phone="+447700909999", name="Gone", tags=["api-vip"], is_opted_out=True)]
        )
    key = issue_key("alpha")
    return Api("alpha.localhost", key.plaintext), channel


def body(channel, **extra) -> dict:
    return {
        "name": "Spring sale",
        "channel_id": channel.id,
        "audience": {"tags": ["api-vip"]},
        "template_name": "spring_sale",
        "template_language": "en_US",
        "template_variables": [{"source": "field", "key": "first_name", "fallback": "there"}],
        **extra,
    }


def test_campaign_lifecycle_over_the_api(setup):
    api, channel = setup
    preview = api.post("/api/v1/campaigns/audience-preview", {"audience": {"tags": ["api-vip"]}})
    assert preview.status_code == 200 and preview.json()["count"] == 5

    created = api.post(
        "/api/v1/campaigns",
        body(channel, audience_csv="phone,coupon\n+447700901111,C1\nbogus,X\n"),
        headers={"Idempotency-Key": "camp-1"},
    )
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["audience_csv_rows"] == 1
    assert campaign["csv_errors"][0]["line"] == 3
    replay = api.post(
        "/api/v1/campaigns",
        body(channel, audience_csv="phone,coupon\n+447700901111,C1\nbogus,X\n"),
        headers={"Idempotency-Key": "camp-1"},
    )
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["id"] == campaign["id"]

    cid = campaign["id"]
    assert (
        api.patch(f"/api/v1/campaigns/{cid}", {"name": "Spring sale v2"}).json()["name"] == "Spring sale v2"
    )
    listed = api.get("/api/v1/campaigns").json()["results"]
    assert [c["id"] for c in listed] == [cid]

    started = api.post(f"/api/v1/campaigns/{cid}/start", {})
    assert started.status_code == 200 and started.json()["status"] == "running"
    refused = api.patch(f"/api/v1/campaigns/{cid}", {"name": "too late"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "campaign_not_editable"

    stats = api.get(f"/api/v1/campaigns/{cid}/stats").json()
    assert stats["total"] == 6 and stats["queued"] == 6 and stats["sent"] == 0

    assert api.post(f"/api/v1/campaigns/{cid}/pause", {}).json()["status"] == "paused"
    assert api.post(f"/api/v1/campaigns/{cid}/resume", {}).json()["status"] == "running"
    cancelled = api.post(f"/api/v1/campaigns/{cid}/cancel", {}).json()
    assert cancelled["status"] == "cancelled"
    again = api.post(f"/api/v1/campaigns/{cid}/resume", {})
    assert again.status_code == 422 and again.json()["error"]["code"] == "invalid_transition"

    recipients = api.get(f"/api/v1/campaigns/{cid}/recipients").json()["results"]
    assert len(recipients) == 6 and {r["status"] for r in recipients} == {"skipped"}
    assert "+447700909999" not in {r["phone"] for r in recipients}
    csv_response = api.get(f"/api/v1/campaigns/{cid}/recipients", {"output": "csv"})
    lines = csv_response.content.decode().strip().splitlines()
    assert csv_response["Content-Type"].startswith("text/csv") and len(lines) == 7
    assert lines[0].startswith("id,contact_id,name,phone,status")

    copy = api.post(f"/api/v1/campaigns/{cid}/duplicate", {})
    assert copy.status_code == 201 and copy.json()["status"] == "draft" and copy.json()["id"] != cid


def test_validation_errors_use_the_error_shape(setup):
    api, channel = setup
    bad = api.post(
        "/api/v1/campaigns", body(channel, audience={"segment": [{"field": "secret", "op": "eq"}]})
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_segment"
    unknown = api.post("/api/v1/campaigns", {**body(channel), "surprise": 1})
    assert unknown.status_code == 400 and "error" in unknown.json()
    empty = api.post("/api/v1/campaigns", body(channel, audience={"tags": ["nobody-has-this"]}))
    started = api.post(f"/api/v1/campaigns/{empty.json()['id']}/start", {})
    assert started.status_code == 422 and started.json()["error"]["code"] == "empty_audience"
    assert api.get("/api/v1/campaigns/999999").status_code == 404


def test_a_key_without_the_campaigns_scope_is_refused(setup):
    _, channel = setup
    key = issue_key("alpha", scopes=["messages:send"])
    response = Api("alpha.localhost", key.plaintext).get("/api/v1/campaigns")
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_another_companys_key_cannot_see_or_use_this_companys_campaigns_or_channels(setup, beta):
    api, channel = setup
    cid = api.post("/api/v1/campaigns", body(channel)).json()["id"]
    beta_api = Api("beta.localhost", issue_key("beta").plaintext)
    assert beta_api.get(f"/api/v1/campaigns/{cid}").status_code == 404
    assert beta_api.post(f"/api/v1/campaigns/{cid}/start", {}).status_code == 404
    assert beta_api.get("/api/v1/campaigns").json()["results"] == []
    foreign = beta_api.post("/api/v1/campaigns", body(channel))
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "unknown_channel"
    # An alpha key sent to beta's host is not a key there.
    assert Api("beta.localhost", api.key).get("/api/v1/campaigns").status_code == 401
