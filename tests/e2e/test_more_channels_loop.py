"""The whole loop for Twilio (SMS, WhatsApp), Messenger and Instagram with real parts: the loopback stubs next
to the sandbox (real HTTP, signed callbacks), the real `twilio` SDK and Graph client, daphne, a Celery worker,
PostgreSQL and Redis. Customer writes → stored once → reply sent once → statuses come back."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from channels_wa.services import channel_create, channel_delete, stub_base_url
from config.celery import app as celery_app
from inbox.models import Contact, Message
from inbox.services import message_send, message_send_to_phone
from tenants.models import WebhookEvent
from tests.e2e.test_whatsapp_loop import PNG, wait_for

CUSTOMER = "+15557650001"
PSID = "7100000000000042"
TWILIO = {
    "twilio_sms": "+15550007001",
    "twilio_whatsapp": "+15550007002",
}
META = {"meta_messenger": "120000000000042", "meta_instagram": "17841400000000042"}


@pytest.fixture
def stubs(committed_db, live_server_url, celery_worker_process, sandbox, settings):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = f"http://{{host}}:{live_server_url.port}"
    settings.WHATSAPP_SANDBOX_URL = sandbox.base_url
    sandbox.stubs.status_delay_s = 0.1
    started = timezone.now()
    celery_app.conf.task_always_eager = False
    created = []

    def connect(provider: str):
        external_id = TWILIO.get(provider) or META[provider]
        with schema_context("alpha"):
            channel = channel_create(
                provider=provider,
                name=provider,
                external_id=external_id,
                phone_number=external_id if provider in TWILIO else "",
                account_id="AC" + "e2e".ljust(32, "0") if provider in TWILIO else "",
                access_token="e2e-token",
                app_secret="e2e-secret",
                api_base_url=stub_base_url(provider),
            )
            channel.refresh_from_db()
            assert channel.status == "connected", channel.last_error
        created.append(channel)
        return channel

    yield connect
    celery_app.conf.task_always_eager = True
    with schema_context("alpha"):
        for channel in created:
            channel_delete(channel=channel)
        Contact.objects.all().delete()
    WebhookEvent.objects.filter(received_at__gte=started).delete()


def _inbound(channel, **filters):
    def find():
        with schema_context("alpha"):
            return (
                Message.objects.select_related("conversation__contact")
                .filter(channel=channel, direction="inbound", **filters)
                .first()
            )

    return find


def _status(message, status: str):
    def check():
        with schema_context("alpha"):
            message.refresh_from_db()
        return message.status == status and message

    return check


def test_twilio_sms_in_reply_delivered_and_opt_out(stubs, sandbox):
    channel = stubs("twilio_sms")
    httpx.post(  # percent-encoded, as the customer page sends it: the contact's phone is still +1555...
        f"{sandbox.base_url}/_stubs/twilio/customers/{quote(CUSTOMER, safe='')}/messages",
        json={"to": channel.external_id, "text": "Is the store open on Sunday?"},
    ).raise_for_status()
    message = wait_for(_inbound(channel), "the SMS to be stored")
    assert message.body == "Is the store open on Sunday?" and message.conversation.contact.phone == CUSTOMER
    with schema_context("alpha"):
        reply = message_send(conversation=message.conversation, text="Yes, 10:00 to 16:00 " + "!" * 150)
    assert reply.payload["segments"] == 2
    wait_for(_status(reply, "delivered"), "the SMS reply to be sent and delivered")
    assert reply.sent_at and reply.send_attempts == 1 and reply.provider_message_id.startswith("SM")
    sent = httpx.get(f"{sandbox.base_url}/_stubs/sent", params={"provider": "twilio"}).json()["data"]
    assert len(sent) == 1 and sent[0]["params"]["StatusCallback"].endswith(
        f"/webhooks/twilio/{channel.uuid}/"
    )

    # The customer texts STOP: Twilio opts them out; a later send fails with 21610 and says so.
    httpx.post(
        f"{sandbox.base_url}/_stubs/twilio/customers/{CUSTOMER}/messages",
        json={"to": channel.external_id, "text": "STOP"},
    ).raise_for_status()
    wait_for(_inbound(channel, body="STOP"), "the STOP to be stored")
    with schema_context("alpha"):
        assert Contact.objects.get(phone=CUSTOMER).is_opted_out
        refused = message_send_to_phone(channel=channel, phone=CUSTOMER, text="One more offer")
    wait_for(_status(refused, "failed"), "the send to an opted-out number to fail")
    assert refused.error_code == "21610"


def test_twilio_whatsapp_media_in_reply_read(stubs, sandbox):
    channel = stubs("twilio_whatsapp")
    httpx.post(
        f"{sandbox.base_url}/_stubs/twilio/customers/{CUSTOMER}/messages",
        json={
            "to": channel.external_id,
            "channel": "whatsapp",
            "text": "the damaged box",
            "profile_name": "Carla",
            "media_base64": base64.b64encode(PNG).decode(),
            "mime_type": "image/png",
        },
    ).raise_for_status()

    def downloaded():
        message = _inbound(channel)()
        return message if message and message.media_file else None

    message = wait_for(downloaded, "the WhatsApp image to be fetched with the account's credentials")
    assert message.kind == "image" and message.media_size == len(PNG)
    with schema_context("alpha"):
        assert message.conversation.contact.profile_name == "Carla"
        reply = message_send(conversation=message.conversation, text="Sorry! A new one ships today.")
    wait_for(_status(reply, "read"), "the WhatsApp reply to be sent, delivered and read")
    assert reply.delivered_at and reply.read_at and reply.send_attempts == 1


@pytest.mark.parametrize("provider", ["meta_messenger", "meta_instagram"])
def test_meta_in_profile_reply_echo_once_and_statuses(stubs, sandbox, provider):
    channel = stubs(provider)
    httpx.post(
        f"{sandbox.base_url}/_stubs/meta/customers/{PSID}/messages",
        json={"to": channel.external_id, "text": "Do you have this in blue?", "name": "Robin Blue"},
    ).raise_for_status()
    message = wait_for(_inbound(channel), "the customer's message to be stored")

    def profile():
        with schema_context("alpha"):
            contact = Contact.objects.get(pk=message.conversation.contact_id)
        return contact.profile_name and contact

    contact = wait_for(profile, "the contact's name from the profile API")
    assert contact.profile_name == "Robin Blue" and contact.avatar_url.endswith(".jpg")
    with schema_context("alpha"):
        reply = message_send(conversation=message.conversation, text="Yes, in every size.")
    wait_for(_status(reply, "read"), "the reply to be sent and read")
    assert reply.provider_message_id.startswith("m_")
    if provider == "meta_messenger":
        assert reply.delivered_at
    # The page answers from the Page inbox / Instagram app: shown as outbound, once, beside our reply.
    httpx.post(
        f"{sandbox.base_url}/_stubs/meta/pages/{channel.external_id}/echo",
        json={"to": PSID, "text": "Sent from the app"},
    ).raise_for_status()

    def echo():
        with schema_context("alpha"):
            return Message.objects.filter(channel=channel, sender_kind="external").first()

    wait_for(echo, "the echo to be stored as outbound")
    sandbox.dispatcher.wait_idle(timeout_s=5)
    with schema_context("alpha"):
        assert Message.objects.filter(channel=channel, direction="outbound").count() == 2
    assert not WebhookEvent.objects.filter(status="failed").exists()
