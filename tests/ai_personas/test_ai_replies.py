"""AI replies end to end: the real openai / google-genai clients against the loopback model stub,
replies sent through the inbox to the WhatsApp sandbox."""

from __future__ import annotations

import httpx
import pytest
from django_tenants.utils import schema_context

from ai_personas.models import AIProvider, AIReply, AIUsageMonth, ConversationAI, Document, Persona
from ai_personas.services import ai_reply_generate, document_upload, knowledge_base_create
from automation.rules import automation_inbound_handle
from inbox.models import Message
from tests.ai_personas.fixtures import inbound
from tests.channels_wa.webhooks import make_channel

CUSTOMER = "15551234567"
HANDBOOK = (
    b"# Opening hours\n\nOur shop opens at 9 am and closes at 6 pm from Monday to Saturday.\n\n"
    b"# Returns\n\nYou can return any item within 30 days with the receipt for a full refund.\n\n"
    b"# Delivery\n\nParcels arrive in two to four working days; express delivery takes one day.\n"
)


def _provider(stub, kind: str, **extra) -> AIProvider:
    base_url = f"{stub.base_url}/v1" if kind == "openai" else stub.base_url
    return AIProvider.objects.create(
        name=f"{kind} stub", kind=kind, base_url=base_url, api_key=f"key-{kind}-alpha", **extra
    )


def _persona(provider, *, kb=None, channel=None, **extra) -> Persona:
    model = "gpt-4o-mini" if provider.kind == "openai" else "gemini-2.0-flash"
    persona = Persona.objects.create(
        name="Ava", provider=provider, model=model, system_prompt="You are Ava from Alpha Ltd.", **extra
    )
    if kb is not None:
        persona.knowledge_bases.add(kb)
    if channel is not None:
        persona.channels.add(channel)
    return persona


def _knowledge_base(provider, capture):
    with capture(execute=True):
        kb = knowledge_base_create(
            name="Handbook", embedder=provider.kind, provider=provider, chunk_size=120, chunk_overlap=20
        )
        document_upload(knowledge_base=kb, filename="handbook.md", data=HANDBOOK)
    kb.refresh_from_db()
    return kb


@pytest.fixture
def sandbox_channel(alpha, sandbox, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://{host}:9"  # sandbox callbacks go nowhere here
    with django_capture_on_commit_callbacks(execute=True):  # the channel registers with the sandbox
        channel = make_channel("alpha", provider="sandbox", api_base_url=sandbox.base_url)
    # the sandbox only lets us answer a customer who wrote in the last 24 hours
    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{CUSTOMER}/messages",
        json={"to": channel.external_id, "type": "text", "text": "hi"},
    ).raise_for_status()
    return channel


@pytest.fixture
def fast_retries(settings):
    settings.AI_MAX_ATTEMPTS = 3
    settings.AI_RETRY_BACKOFF_S = 0.01


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_persona_answers_from_the_documents_and_the_reply_is_sent(
    kind, sandbox_channel, sandbox, model_stub, django_capture_on_commit_callbacks
):
    with schema_context("alpha"):
        provider = _provider(model_stub, kind)
        kb = _knowledge_base(provider, django_capture_on_commit_callbacks)
        assert kb.dimensions == 64 and kb.documents.get().status == Document.Status.READY
        _persona(provider, kb=kb, channel=sandbox_channel)
        with django_capture_on_commit_callbacks(execute=True):
            message = inbound(sandbox_channel, "What time does the shop open on Monday?", customer=CUSTOMER)

        reply = AIReply.objects.get(inbound_message=message)
        assert reply.status == AIReply.Status.SENT, reply.error
        sent = reply.message
        assert sent.sender_kind == Message.SenderKind.AI and sent.body == model_stub.reply_text
        assert sent.status == Message.Status.SENT and sent.provider_message_id.startswith("wamid.")
        assert (reply.prompt_tokens, reply.completion_tokens, reply.attempts) == (120, 30, 1)
        assert reply.model_latency_ms is not None and reply.overhead_ms is not None
        used = list(reply.chunks.values_list("text", flat=True))
        assert any("opens at 9 am" in text for text in used)
        assert AIUsageMonth.objects.get().total_tokens == 150
        assert ConversationAI.objects.get(conversation=message.conversation).ai_turns == 1

    chat = model_stub.chat_requests()[-1]
    if kind == "openai":
        assert chat["path"] == "/v1/chat/completions"
        assert chat["headers"]["authorization"] == "Bearer key-openai-alpha"
        system, *history = chat["body"]["messages"]
        assert system["role"] == "system" and "opens at 9 am" in system["content"]
        assert history[-1] == {"role": "user", "content": "What time does the shop open on Monday?"}
        assert chat["body"]["model"] == "gpt-4o-mini"
    else:
        assert chat["path"].endswith("/models/gemini-2.0-flash:generateContent")
        assert chat["headers"]["x-goog-api-key"] == "key-gemini-alpha"
        assert "opens at 9 am" in str(chat["body"]["systemInstruction"])
        assert chat["body"]["contents"][-1]["parts"][0]["text"] == "What time does the shop open on Monday?"
    sent_to_sandbox = httpx.get(
        f"{sandbox.base_url}/_sandbox/sent", params={"number": sandbox_channel.external_id}
    ).json()["data"]
    assert model_stub.reply_text in str(sent_to_sandbox)


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_a_5xx_and_a_timeout_are_retried_then_the_ai_hands_over(
    kind, in_alpha, alpha_channel, model_stub, fast_retries
):
    provider = _provider(model_stub, kind, timeout_s=1.0)
    model_stub.hang_s = 2.5
    persona = _persona(provider, handoff_message="A colleague will answer you shortly.")
    message = inbound(alpha_channel, "Hello?")
    from ai_personas.services import conversation_ai_start

    conversation_ai_start(conversation=message.conversation, persona=persona)

    model_stub.queue("503", "ok")
    reply = ai_reply_generate(inbound_message_id=message.id)
    assert reply.status == AIReply.Status.SENT and reply.attempts == 2

    second = inbound(alpha_channel, "Are you there?")
    model_stub.queue("500", "timeout", "502")
    reply = ai_reply_generate(inbound_message_id=second.id)
    assert reply.status == AIReply.Status.HANDOFF and reply.attempts == 3
    assert "provider failed" in reply.handoff_reason and reply.error
    assert reply.message.body == "A colleague will answer you shortly."
    state = ConversationAI.objects.get(conversation=message.conversation)
    assert not state.is_active
    # the AI stays quiet afterwards: a person has the conversation
    third = inbound(alpha_channel, "Hello again")
    assert ai_reply_generate(inbound_message_id=third.id) is None
    assert len(model_stub.chat_requests()) == 5


def test_a_4xx_is_not_retried(in_alpha, alpha_channel, model_stub, fast_retries):
    persona = _persona(_provider(model_stub, "openai"))
    message = inbound(alpha_channel, "Hello?")
    from ai_personas.services import conversation_ai_start

    conversation_ai_start(conversation=message.conversation, persona=persona)
    model_stub.queue("401")
    reply = ai_reply_generate(inbound_message_id=message.id)
    assert reply.status == AIReply.Status.HANDOFF and reply.attempts == 1


def test_handoff_keywords_unknown_answers_and_turn_limit(in_alpha, alpha_channel, model_stub):
    from ai_personas.services import conversation_ai_start

    department = __import__("accounts.models", fromlist=["Department"]).Department.objects.create(
        name="Support"
    )
    persona = _persona(
        _provider(model_stub, "openai"),
        handoff_keywords=["human", "atención humana"],
        max_ai_turns=2,
        handoff_department=department,
    )

    first = inbound(alpha_channel, "I want to talk to a HUMAN please")
    conversation = first.conversation
    conversation_ai_start(conversation=conversation, persona=persona)
    reply = ai_reply_generate(inbound_message_id=first.id)
    assert reply.status == AIReply.Status.HANDOFF and "'human'" in reply.handoff_reason
    assert model_stub.chat_requests() == []
    conversation.refresh_from_db()
    assert conversation.department == department

    conversation_ai_start(conversation=conversation, persona=persona)
    accented = inbound(alpha_channel, "ATENCION HUMANA por favor")
    assert ai_reply_generate(inbound_message_id=accented.id).status == AIReply.Status.HANDOFF

    conversation_ai_start(conversation=conversation, persona=persona)
    model_stub.reply_text = "[HANDOFF]"
    unknown = inbound(alpha_channel, "What is the meaning of life?")
    reply = ai_reply_generate(inbound_message_id=unknown.id)
    assert reply.status == AIReply.Status.HANDOFF and "did not know" in reply.handoff_reason
    assert "[HANDOFF]" not in reply.message.body

    conversation_ai_start(conversation=conversation, persona=persona)
    model_stub.reply_text = "Sure, we open at 9."
    statuses = [
        ai_reply_generate(inbound_message_id=inbound(alpha_channel, f"q{i}").id).status for i in range(3)
    ]
    assert statuses == ["sent", "sent", "handoff"]
    assert "2 AI turns" in AIReply.objects.filter(status="handoff").first().handoff_reason


def test_the_monthly_token_budget_stops_the_ai(in_alpha, alpha_channel, model_stub):
    from ai_personas.selectors import ai_settings_get
    from ai_personas.services import ai_settings_update, conversation_ai_start

    ai_settings_update(monthly_token_budget=200)
    assert ai_settings_get().monthly_token_budget == 200
    persona = _persona(_provider(model_stub, "openai"))
    first = inbound(alpha_channel, "Hello")
    conversation_ai_start(conversation=first.conversation, persona=persona)
    assert ai_reply_generate(inbound_message_id=first.id).status == "sent"  # 150 tokens
    assert ai_reply_generate(inbound_message_id=inbound(alpha_channel, "And?").id).status == "sent"  # 300
    reply = ai_reply_generate(inbound_message_id=inbound(alpha_channel, "More?").id)
    assert reply.status == "handoff" and "budget" in reply.handoff_reason
    assert len(model_stub.chat_requests()) == 2


def test_a_closed_window_is_recorded_not_sent(in_alpha, alpha_channel, model_stub):
    from datetime import timedelta

    from django.utils import timezone

    from ai_personas.services import conversation_ai_start
    from inbox.models import Conversation

    persona = _persona(_provider(model_stub, "openai"))
    message = inbound(alpha_channel, "Hello")
    conversation_ai_start(conversation=message.conversation, persona=persona)
    Conversation.objects.filter(pk=message.conversation_id).update(
        window_expires_at=timezone.now() - timedelta(minutes=1)
    )
    reply = ai_reply_generate(inbound_message_id=message.id)
    assert reply.status == "failed" and "window_closed" in reply.error and reply.message is None


def test_agent_takes_over_and_gives_back(in_alpha, alpha_channel, model_stub):
    from accounts.models import User
    from ai_personas.services import conversation_ai_give_back, conversation_ai_take_over

    persona = _persona(_provider(model_stub, "openai"), channel=alpha_channel)
    first = inbound(alpha_channel, "Hello")
    assert automation_inbound_handle(message_id=first.id) == ["ai"]
    conversation = first.conversation
    agent = User.objects.get(email="owner@alpha.test")
    conversation_ai_take_over(conversation=conversation, user=agent)
    second = inbound(alpha_channel, "Still there?")
    assert automation_inbound_handle(message_id=second.id) == []
    assert ai_reply_generate(inbound_message_id=second.id) is None
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    conversation_ai_give_back(conversation=conversation)
    third = inbound(alpha_channel, "Hello again")
    assert automation_inbound_handle(message_id=third.id) == ["ai"]
    assert ConversationAI.objects.get(conversation=conversation).persona == persona
