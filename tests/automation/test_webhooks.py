"""Outbound webhooks to customers' URLs: a loopback receiver, started here, verifies every request with
the README's recipe and can be told to fail or answer 410."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from automation import services
from automation.models import WebhookDelivery, WebhookEndpoint
from automation.selectors import webhook_delivery_get, webhook_delivery_list, webhook_endpoint_list
from automation.services import (
    MAX_ATTEMPTS,
    RETRY_JITTER,
    WEBHOOK_EVENT_TYPES,
    DeliveryOutcome,
    retry_delay_s,
    webhook_deliver,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_event_emit,
)
from automation.tasks import sweep_webhook_deliveries
from channels_wa.services import channel_set_status
from core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from inbox.events import emit_message
from inbox.models import Conversation, Message
from inbox.services import contact_upsert_whatsapp, conversation_set_status
from tests.automation.receiver import README, Receiver, readme_verifier
from tests.channels_wa.webhooks import channel_path, fixture_body, make_channel, post_webhook


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start() -> Receiver:
        started.append(Receiver().start())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers) -> Receiver:
    return receivers()


def subscribe(schema: str, receiver: Receiver, events: tuple[str, ...] = ()) -> WebhookEndpoint:
    with schema_context(schema):
        endpoint, secret = webhook_endpoint_create(url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def emit(schema: str, capture, event_type: str = "channel.status", data: dict | None = None):
    with schema_context(schema), capture(execute=True):
        return webhook_event_emit(event_type=event_type, data=data or {"id": 1, "status": "connected"})


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def post_inbound_text(channel, host: str = "alpha.localhost"):
    body = fixture_body("message__text", phone_number_id=channel.external_id)
    return post_webhook(host=host, path=channel_path(channel), body=body)


def test_create_returns_the_secret_once_stores_it_encrypted_and_validates(alpha):
    with schema_context("alpha"):
        endpoint, secret = webhook_endpoint_create(
            url="https://hooks.example.com/omnidesk", events=["message.status", "message.received"]
        )
        assert secret.startswith("whsec_") and len(secret) > 30
        assert endpoint.events == ["message.received", "message.status"], "kept in the canonical order"
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM automation_webhookendpoint WHERE id = %s", [endpoint.id])
            assert secret not in cursor.fetchone()[0]
        assert WebhookEndpoint.objects.get().secret == secret
        with pytest.raises(ValidationFailed) as unknown:
            webhook_endpoint_create(url="https://hooks.example.com/", events=["message.deleted"])
        assert unknown.value.code == "unknown_event_type"
        for bad_url in ("ftp://hooks.example.com/", "hooks.example.com/x", "https://user:pw@example.com/"):
            with pytest.raises(ValidationFailed) as refused:
                webhook_endpoint_create(url=bad_url, events=[])
            assert refused.value.code == "invalid_webhook_url"
        assert set(WEBHOOK_EVENT_TYPES) >= {"campaign.completed", "channel.status", "contact.updated"}


def test_the_readme_recipe_verifies_real_deliveries_and_rejects_tampering(
    alpha, receiver, django_capture_on_commit_callbacks
):
    endpoint = subscribe("alpha", receiver)
    deliveries = emit("alpha", django_capture_on_commit_callbacks, data={"id": 7, "status": "error"})

    assert len(deliveries) == 1 and len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.is_signature_valid and request.answered == 200
    assert request.headers["X-OmniDesk-Event"] == "channel.status"
    assert request.headers["Content-Type"] == "application/json"
    assert request.delivery_id == str(deliveries[0].delivery_id)
    body = request.json
    assert body["type"] == "channel.status" and body["company"] == "alpha"
    assert body["data"] == {"id": 7, "status": "error"}
    assert uuid.UUID(body["id"]) == deliveries[0].event_id
    assert abs(timezone.datetime.fromisoformat(body["created_at"]) - timezone.now()) < timedelta(minutes=1)
    with schema_context("alpha"):
        delivery = WebhookDelivery.objects.get()
        assert delivery.body.encode() == request.body, "the stored body is the signed, sent bytes"
        assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 200

    verify = readme_verifier()
    header = request.headers["X-OmniDesk-Signature"]
    assert verify(receiver.secret, header, request.body)
    assert not verify(receiver.secret, header, request.body.replace(b"error", b"erroR"))
    assert not verify("whsec_wrong", header, request.body)
    stale_t = int(time.time()) - 301
    stale_mac = hmac.new(receiver.secret.encode(), f"{stale_t}.".encode() + request.body, hashlib.sha256)
    assert not verify(receiver.secret, f"t={stale_t},v1={stale_mac.hexdigest()}", request.body)
    assert not verify(receiver.secret, "garbage", request.body)
    # The README's recipe is the one in the docs section, and the test helper runs exactly that code.
    assert "hmac.compare_digest" in README.read_text() and endpoint.secret == receiver.secret


def test_an_inbound_whatsapp_message_produces_exactly_one_message_received(
    alpha, receiver, django_capture_on_commit_callbacks
):
    channel = make_channel("alpha")
    subscribe("alpha", receiver)  # every event type
    with django_capture_on_commit_callbacks(execute=True):
        assert post_inbound_text(channel).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        post_inbound_text(channel)  # the provider delivering the same webhook again changes nothing

    with schema_context("alpha"):
        message = Message.objects.get()
        types = Counter(WebhookDelivery.objects.values_list("event_type", flat=True))
    assert types == Counter({"message.received": 1, "contact.created": 1, "conversation.created": 1})
    received = [r for r in receiver.accepted if r.headers["X-OmniDesk-Event"] == "message.received"]
    assert len(received) == 1 and len(receiver.accepted) == 3
    data = received[0].json["data"]
    assert data["id"] == message.id and data["direction"] == "inbound" and data["body"] == message.body
    assert all(r.is_signature_valid for r in receiver.requests)


def test_a_receiver_failing_twice_gets_the_event_once_with_the_same_delivery_id(
    alpha, receiver, django_capture_on_commit_callbacks
):
    endpoint = subscribe("alpha", receiver)
    receiver.fail_next = 2
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"):
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
        wait_s = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert 10 * (1 - RETRY_JITTER) - 1 < wait_s <= 10 * (1 + RETRY_JITTER)
        assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.SKIPPED, "not due yet"
        assert WebhookEndpoint.objects.get().consecutive_failures == 1

        make_due(delivery)
        assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.RETRY
        make_due(delivery)
        assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.SUCCEEDED
        make_due(delivery)
        assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.SKIPPED, "sent already"

        delivery.refresh_from_db()
        endpoint.refresh_from_db()
    assert [r.answered for r in receiver.requests] == [500, 500, 200]
    assert {r.delivery_id for r in receiver.requests} == {str(delivery.delivery_id)}
    assert len({r.body for r in receiver.requests}) == 1
    assert len(receiver.accepted) == 1
    assert delivery.status == "succeeded" and delivery.attempts == 3 and delivery.delivered_at
    assert endpoint.consecutive_failures == 0 and endpoint.is_active


def test_a_claimed_delivery_is_never_posted_by_a_second_worker(
    alpha, receiver, django_capture_on_commit_callbacks
):
    subscribe("alpha", receiver)
    receiver.fail_next = 1
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    outcomes = []
    real_post = services._post

    def post_while_another_worker_tries(**kwargs):
        outcomes.append(webhook_deliver(delivery_id=delivery.delivery_id))
        return real_post(**kwargs)

    with schema_context("alpha"):
        make_due(delivery)
        with mock.patch("automation.services._post", side_effect=post_while_another_worker_tries):
            assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.SUCCEEDED
    assert outcomes == [DeliveryOutcome.SKIPPED]
    assert len(receiver.requests) == 2 and len(receiver.accepted) == 1


def test_the_sweep_sends_due_retries(alpha, receiver, django_capture_on_commit_callbacks):
    subscribe("alpha", receiver)
    receiver.fail_next = 1
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"):
        make_due(delivery)
    assert sweep_webhook_deliveries() >= 1
    with schema_context("alpha"):
        delivery.refresh_from_db()
    assert delivery.status == "succeeded" and [r.answered for r in receiver.requests] == [500, 200]


def test_retries_back_off_exponentially_with_jitter_for_about_a_day(
    alpha, receiver, django_capture_on_commit_callbacks
):
    rng = random.Random(1)
    delays = [retry_delay_s(attempt, rng=rng) for attempt in range(1, MAX_ATTEMPTS)]
    assert 20 * 3600 < sum(delays) < 28 * 3600
    nominal = [min(10 * 2 ** (n - 1), services.RETRY_CAP_S) for n in range(1, MAX_ATTEMPTS)]
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * (1 - RETRY_JITTER) <= delay <= expected * (1 + RETRY_JITTER)
    assert delays[0] < delays[3] < delays[7]

    subscribe("alpha", receiver)
    receiver.fail_next = 1000
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
        make_due(delivery)
        assert webhook_deliver(delivery_id=delivery.delivery_id) == DeliveryOutcome.FAILED
        delivery.refresh_from_db()
    assert (
        delivery.status == "failed" and delivery.next_attempt_at is None and delivery.last_error == "HTTP 500"
    )


def test_consecutive_failures_disable_the_endpoint_with_the_reason(
    alpha, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_AUTO_DISABLE_AFTER = 3
    endpoint = subscribe("alpha", receiver)
    receiver.fail_next = 1000
    first, second = (emit("alpha", django_capture_on_commit_callbacks)[0] for _ in range(2))
    with schema_context("alpha"):
        assert WebhookEndpoint.objects.get().is_active, "two failures in a row are not enough"
        make_due(first)
        assert webhook_deliver(delivery_id=first.delivery_id) == DeliveryOutcome.RETRY
        endpoint.refresh_from_db()
        assert not endpoint.is_active and endpoint.disabled_at is not None
        assert "3 consecutive failed deliveries" in endpoint.disabled_reason
        assert "HTTP 500" in endpoint.disabled_reason

        make_due(second)
        assert webhook_deliver(delivery_id=second.delivery_id) == DeliveryOutcome.SKIPPED
        second.refresh_from_db()
        assert second.status == "failed" and "disabled" in second.last_error
    assert emit("alpha", django_capture_on_commit_callbacks) == [], "a disabled endpoint gets nothing new"
    assert len(receiver.requests) == 3

    with schema_context("alpha"):
        with pytest.raises(BusinessRuleViolation):
            webhook_delivery_retry(delivery=second)
        webhook_endpoint_update(endpoint=endpoint, is_active=True)
        endpoint.refresh_from_db()
        assert endpoint.is_active and endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""
        receiver.fail_next = 0
        with django_capture_on_commit_callbacks(execute=True):
            webhook_delivery_retry(delivery=second)
        second.refresh_from_db()
    assert second.status == "succeeded"
    assert receiver.accepted[-1].delivery_id == str(second.delivery_id)


def test_410_gone_disables_the_endpoint_at_once(alpha, receiver, django_capture_on_commit_callbacks):
    endpoint = subscribe("alpha", receiver)
    receiver.is_gone = True
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"):
        delivery.refresh_from_db()
        endpoint.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_status_code == 410 and delivery.attempts == 1
    assert not endpoint.is_active and "410 Gone" in endpoint.disabled_reason
    assert len(receiver.requests) == 1


def test_any_delivery_can_be_retried_by_hand_with_its_delivery_id(
    alpha, receiver, django_capture_on_commit_callbacks
):
    subscribe("alpha", receiver)
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"), django_capture_on_commit_callbacks(execute=True):
        assert webhook_delivery_retry(delivery=delivery).status == "pending"
    with schema_context("alpha"):
        delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert [r.delivery_id for r in receiver.accepted] == [str(delivery.delivery_id)] * 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(alpha, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with schema_context("alpha"):
        with pytest.raises(ValidationFailed) as refused:
            webhook_endpoint_create(url=url, events=[])
        assert refused.value.code == "webhook_target_refused"
        assert "private, loopback or link-local" in refused.value.message
        assert not WebhookEndpoint.objects.exists()
        endpoint, _ = webhook_endpoint_create(url="https://93.184.215.14/hook", events=[])
        with pytest.raises(ValidationFailed):
            webhook_endpoint_update(endpoint=endpoint, url=url)


def test_a_target_that_turned_private_is_refused_at_delivery_time(
    alpha, receiver, settings, django_capture_on_commit_callbacks
):
    subscribe("alpha", receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # as if its DNS now pointed at 127.0.0.1
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    with schema_context("alpha"):
        delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error.startswith("Refused: 127.0.0.1 resolves to")
    assert receiver.requests == []


def test_companies_never_see_or_receive_each_others_webhooks(
    alpha, beta, receivers, django_capture_on_commit_callbacks
):
    alpha_receiver, beta_receiver = receivers(), receivers()
    alpha_endpoint = subscribe("alpha", alpha_receiver)
    beta_endpoint = subscribe("beta", beta_receiver)
    channel = make_channel("alpha")
    with django_capture_on_commit_callbacks(execute=True):
        post_inbound_text(channel)
    [beta_delivery] = emit("beta", django_capture_on_commit_callbacks)

    assert alpha_receiver.accepted and all(r.json["company"] == "alpha" for r in alpha_receiver.accepted)
    assert [r.json["company"] for r in beta_receiver.requests] == ["beta"]
    assert [r.headers["X-OmniDesk-Event"] for r in beta_receiver.requests] == ["channel.status"]
    with schema_context("alpha"):
        assert [e.url for e in webhook_endpoint_list()] == [alpha_endpoint.url]
        assert all(d.endpoint_id == alpha_endpoint.id for d in webhook_delivery_list())
        with pytest.raises(NotFound):
            webhook_delivery_get(delivery_id=beta_delivery.delivery_id)
        assert webhook_deliver(delivery_id=beta_delivery.delivery_id) == DeliveryOutcome.SKIPPED
    with schema_context("beta"):
        assert [e.url for e in webhook_endpoint_list()] == [beta_endpoint.url]
        assert [d.delivery_id for d in webhook_delivery_list()] == [beta_delivery.delivery_id]
        assert webhook_delivery_get(delivery_id=beta_delivery.delivery_id).status == "succeeded"
    assert len(beta_receiver.requests) == 1


def test_inbox_and_channel_changes_emit_their_webhook_events(
    alpha, receiver, django_capture_on_commit_callbacks
):
    channel = make_channel("alpha")
    subscribe("alpha", receiver)
    with schema_context("alpha"), django_capture_on_commit_callbacks(execute=True):
        contact = contact_upsert_whatsapp(whatsapp_id="15550001111", phone="+15550001111")
        contact_upsert_whatsapp(whatsapp_id="15550001111", phone="+15550001111")  # unchanged: no event
        contact_upsert_whatsapp(whatsapp_id="15550001111", phone="+15550001111", profile_name="Dana")
        conversation = Conversation.objects.create(contact=contact, channel=channel)
        message = Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction=Message.Direction.OUTBOUND,
            kind="text",
            body="Hello",
            status=Message.Status.QUEUED,
            sender_kind=Message.SenderKind.USER,
        )
        emit_message("message.created", message)  # an outbound message being queued: no webhook
        for status in ("sent", "delivered", "read"):
            message.status = status
            emit_message("message.updated", message)
        conversation_set_status(conversation=conversation, status="resolved")
        channel_set_status(channel=channel, status="error", error="token expired")

    events = [(r.headers["X-OmniDesk-Event"], r.json["data"].get("status")) for r in receiver.accepted]
    assert events == [
        ("contact.created", None),
        ("contact.updated", None),
        ("message.sent", "sent"),
        ("message.status", "delivered"),
        ("message.status", "read"),
        ("conversation.updated", "resolved"),
        ("conversation.resolved", "resolved"),
        ("channel.status", "error"),
    ]
    contact_data = receiver.accepted[1].json["data"]
    assert contact_data["profile_name"] == "Dana" and contact_data["id"] == contact.id


def test_endpoints_receive_only_the_event_types_they_chose(
    alpha, receivers, django_capture_on_commit_callbacks
):
    only_status, everything = receivers(), receivers()
    subscribe("alpha", only_status, events=("message.status",))
    subscribe("alpha", everything)
    emit("alpha", django_capture_on_commit_callbacks, event_type="channel.status")
    emit("alpha", django_capture_on_commit_callbacks, event_type="message.status", data={"status": "read"})
    assert [r.headers["X-OmniDesk-Event"] for r in only_status.accepted] == ["message.status"]
    assert sorted(r.headers["X-OmniDesk-Event"] for r in everything.accepted) == [
        "channel.status",
        "message.status",
    ]
    with schema_context("alpha"):
        endpoint = WebhookEndpoint.objects.get(url=everything.url)
        webhook_endpoint_delete(endpoint=endpoint)
        assert not WebhookDelivery.objects.filter(endpoint_id=endpoint.id).exists()
    with pytest.raises(ValueError):
        emit("alpha", django_capture_on_commit_callbacks, event_type="message.deleted")


def test_the_company_admin_never_shows_secrets_and_retries_deliveries(
    alpha, receiver, django_capture_on_commit_callbacks
):
    from tests.helpers import host_client, login

    endpoint = subscribe("alpha", receiver)
    [delivery] = emit("alpha", django_capture_on_commit_callbacks)
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    for path in (
        "/admin/automation/webhookendpoint/",
        f"/admin/automation/webhookendpoint/{endpoint.pk}/change/",
        "/admin/automation/webhookdelivery/",
        f"/admin/automation/webhookdelivery/{delivery.pk}/change/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert receiver.secret not in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/automation/webhookdelivery/", {"action": "retry", "_selected_action": [delivery.pk]}
        )
    assert response.status_code == 302
    assert [r.delivery_id for r in receiver.accepted] == [str(delivery.delivery_id)] * 2

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/automation/webhookendpoint/add/",
            {"url": receiver.url + "/second", "description": "CRM", "events": ["message.received"]},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("alpha"):
        created = WebhookEndpoint.objects.get(description="CRM")
    page = client.get("/admin/automation/webhookendpoint/").content.decode()
    assert created.secret in page, "shown once, right after creation"
    assert created.secret not in client.get("/admin/automation/webhookendpoint/").content.decode()
    assert json.loads(delivery.body)["company"] == "alpha"


def test_a_reply_going_out_is_a_message_event_not_also_a_conversation_update(alpha, receivers):
    from inbox.services import message_send

    subscribe("alpha", receivers())  # every event type
    channel = make_channel("alpha")
    with schema_context("alpha"):
        contact = contact_upsert_whatsapp(whatsapp_id="15550001111", phone="+15550001111")
        WebhookDelivery.objects.all().delete()
        conversation = Conversation.objects.create(
            contact=contact, channel=channel, window_expires_at=timezone.now() + timedelta(hours=1)
        )
        message_send(conversation=conversation, text="On its way")
        assert not WebhookDelivery.objects.filter(event_type="conversation.updated").exists()
        conversation_set_status(conversation=conversation, status="pending")
        assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["conversation.updated"]


def test_an_event_goes_to_the_active_endpoints_that_subscribed_to_it_or_to_everything(alpha):
    from django.db.models import Q

    from automation.selectors import webhook_endpoint_ids_subscribed

    with schema_context("alpha"):
        every = WebhookEndpoint.objects.create(url="https://a.example.com/", events=[], secret="s")
        inactive = WebhookEndpoint.objects.create(url="https://b.example.com/", events=[], secret="s")
        inactive.is_active = False
        inactive.save()
        sent = WebhookEndpoint.objects.create(
            url="https://c.example.com/", events=["message.received", "message.sent"], secret="s"
        )
        WebhookEndpoint.objects.create(url="https://d.example.com/", events=["contact.created"], secret="s")
        for event_type in ("message.sent", "contact.created", "conversation.resolved"):
            by_orm = list(
                WebhookEndpoint.objects.filter(is_active=True)
                .filter(Q(events=[]) | Q(events__contains=[event_type]))
                .values_list("id", flat=True)
            )
            assert webhook_endpoint_ids_subscribed(event_type=event_type) == by_orm
        assert webhook_endpoint_ids_subscribed(event_type="message.sent") == [every.id, sent.id]
