"""Replies go out through the real Meta provider code to the sandbox, which enforces Meta's rules."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from core.errors import BusinessRuleViolation, ValidationFailed
from inbox.models import Conversation, Message
from inbox.services import DeliveryOutcome, message_deliver, message_send
from tests.channels_wa.webhooks import channel_path, fixture_body, make_channel, post_webhook
from tests.helpers import capture_realtime_events

CUSTOMER = "15551234567"


@pytest.fixture
def wired(alpha, sandbox, settings, django_capture_on_commit_callbacks):
    """A sandbox channel in company alpha with one customer who has just written (window open)."""
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://{host}:9"  # status callbacks go nowhere here
    with django_capture_on_commit_callbacks(execute=True):
        channel = make_channel("alpha", provider="sandbox", api_base_url=sandbox.base_url)
        post_webhook(
            host="alpha.localhost",
            path=channel_path(channel),
            body=fixture_body("message__text", phone_number_id=channel.external_id),
        )
    # the sandbox only lets us answer a customer who wrote to it in the last 24 hours
    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/messages",
        json={"to": channel.external_id, "type": "text", "text": "hi"},
    ).raise_for_status()
    with schema_context("alpha"):
        channel.refresh_from_db()
        conversation = Conversation.objects.get()
    return channel, conversation


def sent_to_sandbox(sandbox, channel) -> list[dict]:
    return httpx.get(f"{sandbox.base_url}/_sandbox/sent", params={"number": channel.external_id}).json()[
        "data"
    ]


def test_channel_registers_itself_with_the_sandbox(wired, sandbox):
    channel, _ = wired
    numbers = httpx.get(f"{sandbox.base_url}/_sandbox/numbers").json()
    assert channel.status == "connected"
    assert channel.external_id in str(numbers) and "test-app-secret" not in str(numbers)


def test_reply_is_sent_once_and_marked_sent(wired, sandbox, django_capture_on_commit_callbacks):
    channel, conversation = wired
    with schema_context("alpha"):
        with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
            message = message_send(conversation=conversation, text="Your order ships today.")
        message.refresh_from_db()
        assert message.status == "sent" and message.provider_message_id.startswith("wamid.")
        assert message.send_attempts == 1
        # a second worker (or a redelivered task) picking the same message sends nothing
        assert message_deliver(message_id=message.id) == (DeliveryOutcome.SKIPPED, None)
    bodies = [m for m in sent_to_sandbox(sandbox, channel) if m.get("type") == "text"]
    assert len(bodies) == 1 and "Your order ships today." in str(bodies[0])
    assert [event for event, _, _ in sent] == ["message.created", "conversation.updated", "message.updated"]
    assert sent[0][1]["status"] == "queued" and sent[2][1]["status"] == "sent"


def test_free_text_is_refused_outside_the_window_and_a_template_goes(
    wired, sandbox, django_capture_on_commit_callbacks
):
    channel, conversation = wired
    with schema_context("alpha"):
        Conversation.objects.filter(pk=conversation.pk).update(
            window_expires_at=timezone.now() - timedelta(hours=1)
        )
        conversation.refresh_from_db()
        with pytest.raises(BusinessRuleViolation) as error:
            message_send(conversation=conversation, text="Are you there?")
        assert error.value.code == "window_closed" and "template" in error.value.message
        assert not Message.objects.filter(direction="outbound").exists()

        with django_capture_on_commit_callbacks(execute=True):
            message = message_send(
                conversation=conversation,
                kind="template",
                payload={"name": "order_update", "language": "en", "body_params": ["Carla", "A-1001"]},
            )
        message.refresh_from_db()
        assert message.status == "sent", (message.error_code, message.error_title)
    assert any(m.get("type") == "template" for m in sent_to_sandbox(sandbox, channel))


@pytest.mark.parametrize(("text", "code"), [("", "empty_message"), ("x" * 4097, "text_too_long")])
def test_bad_text_is_refused(wired, text, code):
    _, conversation = wired
    with schema_context("alpha"), pytest.raises(ValidationFailed) as error:
        message_send(conversation=conversation, text=text)
    assert error.value.code == code


def test_transient_errors_retry_and_permanent_errors_fail_with_their_reason(
    wired, sandbox, django_capture_on_commit_callbacks
):
    _, conversation = wired
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"fail_rate": 1.0, "fail_code": 130429})
    with schema_context("alpha"):
        with django_capture_on_commit_callbacks(execute=False):
            message = message_send(conversation=conversation, text="first try is throttled")
        outcome, error = message_deliver(message_id=message.id)
        message.refresh_from_db()
        assert outcome == DeliveryOutcome.RETRY and error.code == "130429" and error.is_transient
        assert message.status == "queued" and message.error_code == "130429"

        httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"fail_rate": 0})
        assert message_deliver(message_id=message.id)[0] == DeliveryOutcome.SENT
        message.refresh_from_db()
        assert message.status == "sent" and message.error_code == "" and message.send_attempts == 2

        with django_capture_on_commit_callbacks(execute=False):
            template = message_send(
                conversation=conversation, kind="template", payload={"name": "summer_sale", "language": "en"}
            )
        assert message_deliver(message_id=template.id)[0] == DeliveryOutcome.FAILED
        template.refresh_from_db()
        assert template.status == "failed" and template.error_code.startswith("132")
        assert template.error_title


def test_a_transient_error_on_the_last_attempt_fails_the_message(
    wired, sandbox, django_capture_on_commit_callbacks
):
    _, conversation = wired
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"fail_rate": 1.0, "fail_code": 131000})
    with schema_context("alpha"):
        with django_capture_on_commit_callbacks(execute=False):
            message = message_send(conversation=conversation, text="never makes it")
        assert message_deliver(message_id=message.id, is_last_attempt=True)[0] == DeliveryOutcome.FAILED
        message.refresh_from_db()
        assert message.status == "failed" and message.error_code == "131000"


def test_templates_are_synced_from_the_account(wired):
    from channels_wa.models import Template
    from channels_wa.services import template_sync

    channel, _ = wired
    with schema_context("alpha"):
        assert template_sync(channel=channel) >= 4
        order_update = Template.objects.get(channel=channel, name="order_update")
        assert order_update.is_approved and order_update.variable_count == 2
        assert not Template.objects.get(channel=channel, name="summer_sale").is_approved


def test_media_is_uploaded_and_sent_by_id(wired, sandbox, django_capture_on_commit_callbacks):
    from channels_wa.services import media_upload
    from tests.e2e.test_whatsapp_loop import PNG

    channel, conversation = wired
    with schema_context("alpha"):
        media_id = media_upload(channel=channel, content=PNG, mime_type="image/png", filename="receipt.png")
        with django_capture_on_commit_callbacks(execute=True):
            message = message_send(
                conversation=conversation, kind="image", text="Your receipt", payload={"media_id": media_id}
            )
        message.refresh_from_db()
        assert message.status == "sent", message.error_title
    images = [m for m in sent_to_sandbox(sandbox, channel) if m.get("type") == "image"]
    assert len(images) == 1 and media_id in str(images[0])


def test_media_needs_a_link_or_an_uploaded_file(wired):
    _, conversation = wired
    with schema_context("alpha"), pytest.raises(ValidationFailed) as error:
        message_send(conversation=conversation, kind="image", text="nothing attached")
    assert error.value.code == "media_required"


def test_the_sweeper_requeues_messages_whose_task_was_lost(
    wired, sandbox, django_capture_on_commit_callbacks
):
    from inbox.tasks import sweep_queued_messages

    _, conversation = wired
    with schema_context("alpha"):
        with django_capture_on_commit_callbacks(execute=False):  # the broker "lost" the task
            message = message_send(conversation=conversation, text="still here?")
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweep_queued_messages() == 1
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "sent" and message.send_attempts == 1


def test_opening_a_conversation_clears_unread_and_sends_blue_ticks(
    wired, sandbox, django_capture_on_commit_callbacks
):
    from inbox.services import conversation_mark_read

    channel, conversation = wired
    thread_url = f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/thread"
    # make the customer's sandbox message the one we know about, then mark it read
    inbound = httpx.get(thread_url, params={"number": channel.external_id}).json()[0]
    with schema_context("alpha"):
        Message.objects.filter(conversation=conversation, direction="inbound").update(
            provider_message_id=inbound["id"]
        )
        with django_capture_on_commit_callbacks(execute=True):
            conversation_mark_read(conversation=conversation)
        conversation.refresh_from_db()
        assert conversation.unread_count == 0
    thread = httpx.get(thread_url, params={"number": channel.external_id}).json()
    assert thread[0]["status"] == "read"
