"""A customer writes to a channel an AI persona serves: the webhook worker stores the message, the
automation task hands it to the persona, the reply job runs on the `ai` queue of a real Celery worker,
calls the model stub through the real openai SDK, and the answer reaches the sandbox's customer."""

from __future__ import annotations

import os

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from ai_personas.models import AIProvider, AIReply, AIUsageMonth, Persona
from channels_wa.services import channel_create, channel_delete
from config.celery import app as celery_app
from inbox.models import Contact
from tenants.models import WebhookEvent
from tests.ai_personas.stubs import start_model_stub
from tests.e2e.test_whatsapp_loop import wait_for

CUSTOMER = "15557650007"
NUMBER_ID = "300000000000007"


@pytest.fixture
def ai_channel(committed_db, live_server_url, celery_worker_process, sandbox, settings):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = f"http://{{host}}:{live_server_url.port}"
    stub = start_model_stub(f"/tmp/omnidesk-test-modelstub-e2e-{os.getpid()}.log")
    stub.reply_text = "We open at 9 am, see you then!"
    started = timezone.now()
    celery_app.conf.task_always_eager = False
    with schema_context("alpha"):
        channel = channel_create(
            provider="sandbox",
            name="AI sandbox",
            external_id=NUMBER_ID,
            phone_number="+15550007777",
            account_id="waba-ai-e2e",
            access_token="e2e-token",
            app_secret="e2e-secret",
            api_base_url=sandbox.base_url,
        )
        provider = AIProvider.objects.create(name="stub", kind="openai", base_url=f"{stub.base_url}/v1")
        persona = Persona.objects.create(name="Ava", provider=provider, model="gpt-4o-mini")
        persona.channels.add(channel)
    yield channel, stub
    celery_app.conf.task_always_eager = True
    stub.server.shutdown()
    stub.server.server_close()
    with schema_context("alpha"):
        Contact.objects.filter(whatsapp_id=CUSTOMER).delete()
        persona.delete()
        provider.delete()
        channel_delete(channel=channel)
        AIUsageMonth.objects.all().delete()
    WebhookEvent.objects.filter(received_at__gte=started).delete()


def test_the_persona_answers_a_customer_through_the_ai_queue(ai_channel, sandbox):
    channel, stub = ai_channel
    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/messages",
        json={"to": NUMBER_ID, "type": "text", "text": "When do you open tomorrow?"},
    ).raise_for_status()

    def answered():
        with schema_context("alpha"):
            reply = AIReply.objects.filter(conversation__channel=channel).select_related("message").first()
            return (
                reply
                if reply and reply.message and reply.message.status in ("sent", "delivered", "read")
                else None
            )

    reply = wait_for(answered, "the AI reply to reach the customer", timeout_s=45)
    assert reply.status == "sent" and reply.message.body == "We open at 9 am, see you then!"
    assert stub.chat_requests()[0]["body"]["messages"][-1]["content"] == "When do you open tomorrow?"
    sent = httpx.get(f"{sandbox.base_url}/_sandbox/sent", params={"number": NUMBER_ID}).json()["data"]
    assert "We open at 9 am" in str(sent)
