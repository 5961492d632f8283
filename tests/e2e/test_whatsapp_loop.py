"""The whole loop with real parts: the sandbox (real HTTP, signed webhooks), daphne, a Celery worker,
PostgreSQL and Redis. Customer writes → stored once → reply sent once → delivered and read come back."""

from __future__ import annotations

import time

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from channels_wa.services import channel_create, channel_delete
from config.celery import app as celery_app
from inbox.models import Contact, Message
from inbox.services import message_send
from tenants.models import WebhookEvent

CUSTOMER = "15557654321"
NUMBER_ID = "300000000000001"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000000000200015e2b4f0a0000000049454e44ae426082"
)


def wait_for(predicate, what: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def wired_channel(committed_db, live_server_url, celery_worker_process, sandbox, settings):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = f"http://{{host}}:{live_server_url.port}"
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"status_delay_ms": 100, "auto_read": True})
    started = timezone.now()
    celery_app.conf.task_always_eager = False
    with schema_context("alpha"):
        channel = channel_create(
            provider="sandbox",
            name="Sandbox",
            external_id=NUMBER_ID,
            phone_number="+15550001111",
            account_id="waba-e2e",
            access_token="e2e-token",
            app_secret="e2e-secret",
            api_base_url=sandbox.base_url,
        )
    yield channel
    celery_app.conf.task_always_eager = True
    with schema_context("alpha"):
        channel_delete(channel=channel)
        Contact.objects.filter(whatsapp_id=CUSTOMER).delete()
    WebhookEvent.objects.filter(received_at__gte=started).delete()


def test_customer_message_reply_and_read_receipts(wired_channel, sandbox):
    channel = wired_channel
    with schema_context("alpha"):
        channel.refresh_from_db()
        assert channel.status == "connected"

    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/messages",
        json={
            "to": NUMBER_ID,
            "type": "text",
            "text": "Hello, has my order shipped?",
            "profile_name": "Carla",
        },
    ).raise_for_status()

    def inbound():
        with schema_context("alpha"):
            return Message.objects.filter(channel=channel, direction="inbound").first()

    message = wait_for(inbound, "the customer's message to be stored")
    assert message.body == "Hello, has my order shipped?"
    with schema_context("alpha"):
        conversation = message.conversation
        assert conversation.contact.profile_name == "Carla" and conversation.unread_count == 1
        reply = message_send(conversation=conversation, text="Yes, it ships today!")

    def reply_state():
        with schema_context("alpha"):
            reply.refresh_from_db()
        return reply.status == "read" and reply

    wait_for(reply_state, "the reply to be sent, delivered and read")
    assert reply.sent_at and reply.delivered_at and reply.read_at and reply.send_attempts == 1
    sent = httpx.get(f"{sandbox.base_url}/_sandbox/sent", params={"number": NUMBER_ID}).json()["data"]
    assert [m for m in sent if "Yes, it ships today!" in str(m)] and len(sent) == 1

    with schema_context("alpha"):
        assert Message.objects.filter(channel=channel).count() == 2
    assert set(WebhookEvent.objects.filter(channel_id=channel.id).values_list("status", flat=True)) == {
        "processed"
    }


def test_customer_image_is_downloaded_into_storage(wired_channel, sandbox):
    import base64

    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/messages",
        json={
            "to": NUMBER_ID,
            "type": "image",
            "media_base64": base64.b64encode(PNG).decode(),
            "mime_type": "image/png",
            "caption": "the damaged box",
        },
    ).raise_for_status()

    def downloaded():
        with schema_context("alpha"):
            message = Message.objects.filter(channel=wired_channel, kind="image").first()
            return message if message and message.media_file else None

    message = wait_for(downloaded, "the image to be downloaded")
    assert message.media_mime_type == "image/png" and message.media_size == len(PNG)
    assert message.body == "the damaged box"
    with message.media_file.open("rb") as stored:
        assert stored.read() == PNG
