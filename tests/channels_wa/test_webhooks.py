"""Inbound webhooks end to end inside one process: signed POST → stored event → processing task
(run inline here; the end-to-end test uses a real worker) → inbox rows and realtime events."""

import json

import pytest
from django_tenants.utils import schema_context

from inbox.models import Contact, Conversation, Message, PendingStatus
from tenants.models import WebhookEvent
from tests.channels_wa.webhooks import (
    channel_path,
    fixture_body,
    make_channel,
    post_webhook,
    signature,
)
from tests.helpers import capture_realtime_events

INBOUND_KINDS = {
    "message__text": "text",
    "message__text_with_context": "text",
    "message__image": "image",
    "message__audio_voice": "audio",
    "message__video": "video",
    "message__document": "document",
    "message__sticker": "sticker",
    "message__location": "location",
    "message__contacts": "contacts",
    "message__interactive_button_reply": "interactive",
    "message__interactive_list_reply": "interactive",
    "message__button": "button",
    "message__reaction": "reaction",
    "message__order": "order",
    "message__system": "system",
    "message__unsupported": "unsupported",
    "message__unknown_type": "unsupported",
}


@pytest.fixture
def channel(alpha):
    return make_channel("alpha")


def deliver(channel, name: str, *, host: str = "alpha.localhost", **kwargs):
    body = fixture_body(name, phone_number_id=channel.external_id, **kwargs)
    return post_webhook(host=host, path=channel_path(channel), body=body)


@pytest.mark.parametrize("name", sorted(INBOUND_KINDS))
def test_every_inbound_type_is_stored_once_with_its_kind(channel, name, django_capture_on_commit_callbacks):
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        response = deliver(channel, name)

    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert WebhookEvent.objects.get().status == "processed"
    with schema_context("alpha"):
        message = Message.objects.get()
        assert message.kind == INBOUND_KINDS[name] and message.direction == "inbound"
        assert message.raw, "the raw payload is kept"
        conversation = message.conversation
        assert conversation.unread_count == 1 and conversation.status == "open"
        assert Contact.objects.get().phone == "+15551234567"
        if message.media_provider_id:  # the download was tried; its failure is on the message, not lost
            assert message.media_error.startswith("network")
    assert [event for event, _, _ in sent] == ["message.created", "conversation.created"]
    assert sent[0][2] == ["alpha.company"]


def test_text_message_fields_conversation_and_exact_events(channel, django_capture_on_commit_callbacks):
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        deliver(channel, "message__text_with_context")
    with schema_context("alpha"):
        message = Message.objects.get()
        conversation = message.conversation
        assert message.reply_to_provider_id and message.body
        assert conversation.contact.profile_name == "Carla Customer"
        assert conversation.last_message_preview == message.body[:160]
        assert conversation.window_expires_at is not None
    assert sent == [
        (
            "message.created",
            {
                "id": message.id,
                "conversation_id": conversation.id,
                "channel_id": channel.id,
                "direction": "inbound",
                "kind": "text",
                "body": message.body,
                "status": "received",
                "error_code": "",
                "error_title": "",
                "sender_kind": "contact",
                "created_at": message.created_at.isoformat(),
            },
            ["alpha.company"],
        ),
        (
            "conversation.created",
            {
                "id": conversation.id,
                "contact_id": conversation.contact_id,
                "channel_id": channel.id,
                "status": "open",
                "assignee_id": None,
                "department_id": None,
                "unread_count": 1,
                "last_message_preview": conversation.last_message_preview,
                "last_message_at": conversation.last_message_at.isoformat(),
                "window_expires_at": conversation.window_expires_at.isoformat(),
            },
            ["alpha.company"],
        ),
    ]


@pytest.mark.parametrize("signature_header", [None, "sha256=deadbeef", "", "sha1=abc"])
def test_missing_or_wrong_signatures_are_refused_and_nothing_stored(channel, signature_header):
    body = fixture_body("message__text", phone_number_id=channel.external_id)
    kwargs = {"secret": None} if signature_header is None else {"signature_header": signature_header}
    response = post_webhook(host="alpha.localhost", path=channel_path(channel), body=body, **kwargs)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_signed_with_another_secret_is_refused(channel):
    body = fixture_body("message__text", phone_number_id=channel.external_id)
    response = post_webhook(
        host="alpha.localhost",
        path=channel_path(channel),
        body=body,
        signature_header=signature(body, "someone-elses-secret"),
    )
    assert response.status_code == 401 and not WebhookEvent.objects.exists()


def test_redelivery_and_the_same_message_in_two_deliveries_give_one_message(
    channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = fixture_body("message__text", phone_number_id=channel.external_id, fresh=False)
        first = post_webhook(host="alpha.localhost", path=channel_path(channel), body=body)
        again = post_webhook(host="alpha.localhost", path=channel_path(channel), body=body)
        # same message id, different bytes: a second delivery Meta made of the same message
        other = fixture_body("message__text", phone_number_id=channel.external_id, fresh=True)
        post_webhook(host="alpha.localhost", path=channel_path(channel), body=other)

    assert first.json()["status"] == "accepted" and again.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    with schema_context("alpha"):
        assert Message.objects.count() == 1
        assert Conversation.objects.get().unread_count == 1


def _outbound(channel, provider_message_id="wamid.OUTBOUND01", status="sent"):
    with schema_context("alpha"):
        contact = Contact.objects.create(whatsapp_id="15551234567", phone="+15551234567")
        conversation = Conversation.objects.create(contact=contact, channel=channel)
        return Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction="outbound",
            kind="text",
            body="Hello",
            provider_message_id=provider_message_id,
            status=status,
            sender_kind="user",
        )


def _status_of(message):
    with schema_context("alpha"):
        message.refresh_from_db()
    return message


@pytest.mark.parametrize(
    "order",
    [
        ["status__sent", "status__delivered", "status__read"],
        ["status__read", "status__delivered", "status__sent"],
        ["status__delivered", "status__read", "status__sent", "status__delivered"],
    ],
)
def test_statuses_in_any_order_end_at_the_right_state(channel, order, django_capture_on_commit_callbacks):
    message = _outbound(channel)
    with django_capture_on_commit_callbacks(execute=True):
        for name in order:
            deliver(channel, name)
    message = _status_of(message)
    assert message.status == "read"
    assert message.read_at and message.delivered_at


def test_failed_status_carries_its_reason_and_is_final(channel, django_capture_on_commit_callbacks):
    message = _outbound(channel)
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        deliver(channel, "status__failed")
        deliver(channel, "status__sent", replace={'"status": "sent"': '"status": "sent" '})
    message = _status_of(message)
    assert (message.status, message.error_code, message.error_title) == (
        "failed",
        "131047",
        "Re-engagement message",
    )
    assert "24 hours" in message.error_detail
    assert [event for event, _, _ in sent] == ["message.updated"]
    assert sent[0][1]["status"] == "failed" and sent[0][1]["error_code"] == "131047"


def test_a_status_for_an_unknown_message_is_kept_and_applied_when_it_is_sent(
    channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(channel, "status__delivered")
    with schema_context("alpha"):
        assert PendingStatus.objects.get().status == "delivered"
        from inbox.services import _apply_pending_statuses

        message = _outbound(channel, status="sent")
        with schema_context("alpha"):
            _apply_pending_statuses(message)
            message.save()
            assert Message.objects.get(pk=message.pk).status == "delivered"
            assert not PendingStatus.objects.exists()


def test_malformed_but_signed_payload_is_stored_failed_and_the_next_one_still_processes(
    channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        broken = post_webhook(
            host="alpha.localhost", path=channel_path(channel), body=b'{"object": "whatsapp_bu'
        )
        good = deliver(channel, "message__text")

    assert broken.status_code == 200 and good.status_code == 200
    failed = WebhookEvent.objects.get(status="failed")
    assert failed.body == '{"object": "whatsapp_bu' and "ValueError" in failed.error
    assert WebhookEvent.objects.filter(status="processed").count() == 1
    with schema_context("alpha"):
        assert Message.objects.count() == 1


def test_subscription_handshake(channel):
    from django.test import Client

    client = Client(HTTP_HOST="alpha.localhost")
    ok = client.get(
        channel_path(channel),
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    refused = client.get(
        channel_path(channel), {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert refused.status_code == 403


def test_platform_url_routes_each_number_to_its_company(alpha, beta, django_capture_on_commit_callbacks):
    alpha_channel = make_channel("alpha", external_id="100000000000001")
    beta_channel = make_channel("beta", external_id="100000000000002")
    body = fixture_body(
        "multi__two_numbers",
        phone_number_id=alpha_channel.external_id,
        second_number_id=beta_channel.external_id,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(host="localhost", path="/webhooks/meta/", body=body)

    assert response.status_code == 200 and WebhookEvent.objects.get().status == "processed"
    for schema, channel in (("alpha", alpha_channel), ("beta", beta_channel)):
        with schema_context(schema):
            message = Message.objects.get()
            assert message.channel_id == channel.id
            payload_ids = [
                e["changes"][0]["value"]["metadata"]["phone_number_id"] for e in json.loads(body)["entry"]
            ]
            assert channel.external_id in payload_ids


def test_company_b_channel_url_on_company_a_host_is_a_404(alpha, beta):
    beta_channel = make_channel("beta", external_id="100000000000002")
    body = fixture_body("message__text", phone_number_id=beta_channel.external_id)
    response = post_webhook(host="alpha.localhost", path=channel_path(beta_channel), body=body)
    assert response.status_code == 404 and not WebhookEvent.objects.exists()


def test_unknown_number_on_the_platform_url_is_recorded_and_acknowledged(
    alpha, settings, django_capture_on_commit_callbacks
):
    settings.META_APP_SECRET = "platform-secret"
    body = fixture_body("message__text", phone_number_id="999999999999999")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(host="localhost", path="/webhooks/meta/", body=body, secret="platform-secret")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "unrouted" and "999999999999999" in event.error


def test_suspended_company_webhooks_are_still_stored(alpha, django_capture_on_commit_callbacks):
    from tenants.services import company_set_status

    channel = make_channel("alpha")
    company_set_status(company=alpha.company, status="suspended")
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(channel, "message__text").status_code == 200
    with schema_context("alpha"):
        assert Message.objects.count() == 1


def test_the_sweeper_reprocesses_events_whose_task_was_lost(channel):
    from datetime import timedelta

    from django.utils import timezone

    from channels_wa.tasks import sweep_webhook_events

    deliver(channel, "message__text")  # on_commit never runs here: as if the broker were down
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert sweep_webhook_events() == 1
    assert WebhookEvent.objects.get().status == "processed"
    with schema_context("alpha"):
        assert Message.objects.count() == 1


def test_failed_events_are_listed_and_reprocessed_from_the_operator_console(channel):
    from tests.tenants.test_operator_console import superadmin_client

    body = fixture_body("message__text", phone_number_id=channel.external_id)
    event = WebhookEvent.objects.create(
        provider="meta_whatsapp",
        body=body.decode(),
        body_sha256="f" * 64,
        status="failed",
        error="OperationalError: database restarted",
    )
    client = superadmin_client()
    listing = client.get("/admin/tenants/webhookevent/?status__exact=failed").content.decode()
    assert "database restarted" in listing

    client.post("/admin/tenants/webhookevent/", {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 1
    with schema_context("alpha"):
        assert Message.objects.get().body
