"""Managing outbound webhook endpoints through the API, and a test event reaching a real receiver."""

from django_tenants.utils import schema_context

from automation.models import WebhookEndpoint
from tests.api.conftest import Api, issue_key
from tests.api.test_api_auth import assert_error
from tests.automation.receiver import Receiver


def test_create_shows_the_secret_once_then_test_and_retry(api, settings, django_capture_on_commit_callbacks):
    receiver = Receiver().start()
    try:
        created = api.post("/api/v1/webhooks", {"url": receiver.url, "events": ["message.received"]})
        assert created.status_code == 201, created.content
        endpoint = created.json()
        assert endpoint["secret"].startswith("whsec_")
        receiver.secret = endpoint["secret"]
        listed = api.get("/api/v1/webhooks")
        assert endpoint["secret"] not in listed.content.decode()
        assert [e["id"] for e in listed.json()["results"]] == [endpoint["id"]]

        with django_capture_on_commit_callbacks(execute=True):
            test = api.post(f"/api/v1/webhooks/{endpoint['id']}/test", {})
        assert test.status_code == 202
        assert [r.json["type"] for r in receiver.accepted] == ["webhook.test"]
        deliveries = api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()["results"]
        assert deliveries[0]["status"] == "succeeded" and deliveries[0]["id"] == test.json()["id"]

        with django_capture_on_commit_callbacks(execute=True):
            retried = api.post(f"/api/v1/webhook-deliveries/{test.json()['id']}/retry", {})
        assert retried.status_code == 202
        assert [r.delivery_id for r in receiver.accepted] == [test.json()["id"]] * 2  # same delivery id

        paused = api.patch(f"/api/v1/webhooks/{endpoint['id']}", {"is_active": False})
        assert paused.json()["is_active"] is False
        assert api.client.delete(f"/api/v1/webhooks/{endpoint['id']}", **api.headers()).status_code == 204
    finally:
        receiver.stop()


def test_bad_targets_and_events_are_refused_in_the_error_shape(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    assert_error(
        api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:8080/hook"}), 400, "webhook_target_refused"
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert_error(
        api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/h", "events": ["nope"]}),
        400,
        "unknown_event_type",
    )
    with schema_context("alpha"):
        assert not WebhookEndpoint.objects.exists()


def test_agents_keys_without_the_scope_and_other_companies_cannot_touch_endpoints(api, beta):
    created = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    narrow = Api("alpha.localhost", issue_key("alpha", scopes=["messages:send"]).plaintext)
    assert_error(narrow.get("/api/v1/webhooks"), 403, "insufficient_scope")
    beta_api = Api("beta.localhost", issue_key("beta").plaintext)
    assert beta_api.get("/api/v1/webhooks").json()["results"] == []
    assert_error(beta_api.get(f"/api/v1/webhooks/{created['id']}"), 404, "webhook_endpoint_not_found")
