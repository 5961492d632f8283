"""The automation and AI pages of the dashboard: admins configure, agents take over, companies stay apart."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from ai_personas.models import AIProvider, ConversationAI, KnowledgeBase, Persona
from automation.models import AutoReplyRule, BusinessHours, Integration
from tests.ai_personas.fixtures import inbound
from tests.helpers import host_client, login


@pytest.fixture
def owner(alpha):
    client = host_client(alpha.host)
    assert login(client, alpha.host, alpha.owner_email).status_code == 302
    return client


@pytest.fixture
def agent(alpha):
    from tests.factories import UserFactory

    with schema_context("alpha"):
        user = UserFactory(email="agent7@alpha.test")
    client = host_client(alpha.host)
    login(client, alpha.host, user.email)
    return client


def test_admin_adds_a_rule_hours_and_an_integration(owner):
    response = owner.post(
        "/automation/",
        {
            "form": "rule",
            "rule-name": "Prices",
            "rule-position": "1",
            "rule-is_active": "on",
            "rule-trigger": "keyword",
            "rule-keywords": "price, cost",
            "rule-match": "contains",
            "rule-actions": '[{"type": "reply_text", "text": "See our prices."}]',
        },
    )
    assert response.status_code == 302
    bad = owner.post(
        "/automation/",
        {
            "form": "rule",
            "rule-name": "Bad",
            "rule-position": "1",
            "rule-trigger": "keyword",
            "rule-keywords": "(",
            "rule-match": "regex",
            "rule-actions": '[{"type": "reply_text", "text": "x"}]',
        },
    )
    assert bad.status_code == 200 and "Bad regular expression" in bad.content.decode()
    response = owner.post(
        "/automation/",
        {
            "form": "hours",
            "hours-timezone": "Europe/Madrid",
            "hours-schedule": '{"mon": [["08:00", "14:00"]]}',
            "hours-holidays": "2026-12-25",
            "hours-away_message": "Closed!",
            "hours-is_away_message_enabled": "on",
            "hours-cooldown_s": "60",
            "hours-loop_limit": "5",
            "hours-loop_window_s": "600",
        },
    )
    assert response.status_code == 302
    response = owner.post(
        "/automation/",
        {
            "form": "integration",
            "integration-name": "ERP",
            "integration-url": "https://erp.example.test/hook",
            "integration-api_key": "erp-secret-key",
            "integration-timeout_s": "5",
            "integration-is_active": "on",
        },
    )
    assert response.status_code == 302
    page = owner.get("/automation/").content.decode()
    assert "Prices" in page and "erp.example.test" in page and "erp-secret-key" not in page
    with schema_context("alpha"):
        assert AutoReplyRule.objects.get().keywords == ["price", "cost"]
        hours = BusinessHours.objects.get()
        assert hours.timezone == "Europe/Madrid" and str(hours.holidays[0]) == "2026-12-25"
        assert Integration.objects.get().api_key == "erp-secret-key"


def test_agents_cannot_change_automation_but_can_take_over(agent, alpha):
    assert agent.get("/automation/").status_code == 403
    assert agent.get("/ai/").status_code == 403
    with schema_context("alpha"):
        from tests.channels_wa.webhooks import make_channel

        channel = make_channel("alpha")
        provider = AIProvider.objects.create(name="p", kind="openai")
        persona = Persona.objects.create(name="Ava", provider=provider, model="m")
        message = inbound(channel, "hello")
        ConversationAI.objects.create(conversation=message.conversation, persona=persona)
    page = agent.get("/ai/conversations/").content.decode()
    assert "AI is handling" in page and "Take over" in page
    assert agent.post(f"/ai/conversations/{message.conversation_id}/take-over/").status_code == 302
    with schema_context("alpha"):
        assert not ConversationAI.objects.get().is_active
    assert "Give back to AI" in agent.get("/ai/conversations/").content.decode()
    agent.post(f"/ai/conversations/{message.conversation_id}/give-back/", {"persona": persona.id})
    with schema_context("alpha"):
        assert ConversationAI.objects.get().is_active


def test_persona_knowledge_upload_and_playground(owner, model_stub, django_capture_on_commit_callbacks):
    owner.post(
        "/ai/",
        {
            "form": "provider",
            "provider-name": "Stub",
            "provider-kind": "openai",
            "provider-base_url": f"{model_stub.base_url}/v1",
            "provider-api_key": "sk-alpha",
            "provider-timeout_s": "5",
        },
    )
    with schema_context("alpha"):
        provider = AIProvider.objects.get()
        assert provider.api_key == "sk-alpha"
        with connection.cursor() as cursor:  # stored encrypted
            cursor.execute("SELECT api_key FROM ai_personas_aiprovider WHERE id = %s", [provider.id])
            assert "sk-alpha" not in cursor.fetchone()[0]
    owner.post(
        "/ai/",
        {
            "form": "kb",
            "kb-name": "Handbook",
            "kb-embedder": "openai",
            "kb-provider": provider.id,
            "kb-embedding_model": "text-embedding-3-small",
            "kb-chunk_size": "300",
            "kb-chunk_overlap": "50",
        },
    )
    with schema_context("alpha"):
        kb = KnowledgeBase.objects.get()
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            f"/ai/knowledge/{kb.id}/",
            {
                "file": SimpleUploadedFile(
                    "faq.csv", b"question,answer\nWhen do you open?,At 9 am every day.\n"
                )
            },
        )
    assert response.status_code == 302
    assert "Ready" in owner.get(f"/ai/knowledge/{kb.id}/").content.decode()
    response = owner.post(
        "/ai/personas/new/",
        {
            "name": "Ava",
            "provider": provider.id,
            "model": "gpt-4o-mini",
            "temperature": "0.2",
            "max_tokens": "200",
            "knowledge_bases": [kb.id],
            "top_k": "3",
            "score_threshold": "0.1",
            "history_messages": "6",
            "handoff_keywords": "human, agent",
            "max_ai_turns": "5",
            "handoff_message": "One moment.",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("alpha"):
        persona = Persona.objects.get()
        assert persona.handoff_keywords == ["human", "agent"] and list(persona.knowledge_bases.all()) == [kb]
    model_stub.reply_text = "We open at 9 am."
    page = owner.post(
        f"/ai/personas/{persona.id}/playground/", {"question": "When do you open?"}
    ).content.decode()
    assert "We open at 9 am." in page and "At 9 am every day." in page
    assert "sk-alpha" not in owner.get("/ai/").content.decode()


def test_another_company_s_user_sees_nothing(alpha, beta):
    with schema_context("alpha"):
        AutoReplyRule.objects.create(name="Alpha secret rule", trigger="keyword", keywords=["x"], actions=[])
    client = host_client(beta.host)
    login(client, beta.host, beta.owner_email)
    assert "Alpha secret rule" not in client.get("/automation/").content.decode()
    # an alpha session is refused on beta's host
    alpha_client = host_client(alpha.host)
    login(alpha_client, alpha.host, alpha.owner_email)
    response = alpha_client.get("/automation/", HTTP_HOST=beta.host)
    assert response.status_code in (302, 403)


def test_an_unsupported_upload_is_refused_on_the_form(owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with schema_context("alpha"):
        kb = KnowledgeBase.objects.create(name="Docs")
    response = owner.post(
        f"/ai/knowledge/{kb.id}/", {"file": SimpleUploadedFile("slides.pptx", b"PK\x03\x04")}
    )
    assert response.status_code == 200 and "Unsupported file type pptx" in response.content.decode()
    with schema_context("alpha"):
        assert not kb.documents.exists()


@pytest.mark.parametrize(
    ("path", "label"),
    [("/automation/", "Automation"), ("/ai/", "AI personas"), ("/ai/conversations/", "AI conversations")],
)
def test_the_main_navigation_marks_the_automation_and_ai_pages_as_current(owner, path, label):
    """These pages live in the dashboard's layout: its navigation highlights them like the inbox pages."""
    html = owner.get(path).content.decode()
    assert f'aria-current="page">{label}</a>' in html
    assert html.count('aria-current="page"') == 1
