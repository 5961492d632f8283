"""Auto-reply rules: triggers, conditions, actions, order and stop, cooldown, loop guard, business and
quiet hours across time zones, integrations, and isolation between companies."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from automation.models import (
    AutomationLog,
    AutoReplyRule,
    BusinessHours,
    Integration,
    WebhookDelivery,
    WebhookEndpoint,
)
from automation.rules import (
    automation_inbound_handle,
    automation_no_agent_reply_check,
    business_hours_get,
    is_open,
    is_quiet,
    keyword_matches,
    rule_save,
)
from core.errors import ValidationFailed
from inbox.models import Message, Note
from tests.ai_personas.fixtures import inbound

ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def rule(**fields) -> AutoReplyRule:
    fields.setdefault("name", "rule")
    fields.setdefault("trigger", AutoReplyRule.Trigger.KEYWORD)
    fields.setdefault("actions", [{"type": "reply_text", "text": f"auto: {fields['name']}"}])
    return rule_save(rule=AutoReplyRule(**fields))


def auto_replies(conversation=None) -> list[str]:
    messages = Message.objects.filter(sender_kind=Message.SenderKind.AUTOMATION)
    if conversation is not None:
        messages = messages.filter(conversation=conversation)
    return list(messages.order_by("id").values_list("body", flat=True))


@pytest.fixture
def hours(in_alpha):
    hours = business_hours_get()
    hours.schedule, hours.cooldown_s = ALWAYS_OPEN, 300
    hours.save()
    return hours


@pytest.mark.parametrize(
    ("text", "keywords", "match", "expected"),
    [
        ("PRECIO", ["precio"], "exact", True),
        ("Précio ", ["precio"], "exact", True),
        ("what is the precio?", ["precio"], "exact", False),
        ("what is the PRÉCIO?", ["precio"], "contains", True),
        ("imprecision", ["precio"], "contains", False),
        ("order #A-1234 status", [r"#a-\d{4}"], "regex", True),
        ("order status", [r"#a-\d{4}"], "regex", False),
    ],
)
def test_keyword_matching_is_case_and_accent_insensitive(text, keywords, match, expected):
    assert keyword_matches(text=text, keywords=keywords, match=match) is expected


def test_keyword_rule_replies_through_the_inbox(hours, alpha_channel):
    rule(
        name="prices", keywords=["price", "cost"], actions=[{"type": "reply_text", "text": "See our prices."}]
    )
    message = inbound(alpha_channel, "What does it COST?")
    assert automation_inbound_handle(message_id=message.id) == ["prices"]
    reply = Message.objects.get(sender_kind="automation")
    assert (reply.body, reply.status, reply.direction) == ("See our prices.", "queued", "outbound")
    assert AutomationLog.objects.filter(event="rule_fired", rule__name="prices").exists()
    other = inbound(alpha_channel, "hello", customer="15550009999")
    assert automation_inbound_handle(message_id=other.id) == []


def test_first_message_from_a_new_contact(hours, alpha_channel):
    rule(name="welcome", trigger="first_message", actions=[{"type": "reply_text", "text": "Welcome!"}])
    first = inbound(alpha_channel, "hi")
    assert automation_inbound_handle(message_id=first.id) == ["welcome"]
    second = inbound(alpha_channel, "hi again")
    assert automation_inbound_handle(message_id=second.id) == []


def test_outside_business_hours_trigger_and_away_message(hours, alpha_channel):
    hours.schedule = {}
    hours.is_away_message_enabled, hours.away_message = True, "We are closed."
    hours.save()
    rule(name="closed", trigger="outside_hours", actions=[{"type": "add_label", "label": "after-hours"}])
    message = inbound(alpha_channel, "anyone?")
    assert automation_inbound_handle(message_id=message.id) == ["closed", "away_message"]
    assert auto_replies() == ["We are closed."]
    assert list(message.conversation.labels.values_list("name", flat=True)) == ["after-hours"]
    # the away message goes once per cooldown, not on every message
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "hello??").id) == ["closed"]
    hours.schedule = ALWAYS_OPEN
    hours.save()
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "now?").id) == []


def test_business_hours_across_time_zones():
    weekdays = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    tokyo = BusinessHours(timezone="Asia/Tokyo", schedule=weekdays, holidays=[date(2026, 11, 26)])
    new_york = BusinessHours(timezone="America/New_York", schedule=weekdays)
    wednesday_01_utc = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, 20:00 Tuesday in NY
    assert is_open(tokyo, wednesday_01_utc) and not is_open(new_york, wednesday_01_utc)
    wednesday_15_utc = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 00:00 Thursday in Tokyo, 10:00 in NY
    assert not is_open(tokyo, wednesday_15_utc) and is_open(new_york, wednesday_15_utc)
    holiday_in_tokyo = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thursday 11:00 in Tokyo
    assert not is_open(tokyo, holiday_in_tokyo)
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    assert not is_open(new_york, saturday)


def test_quiet_hours_wrap_midnight_in_the_company_s_zone():
    quiet = BusinessHours(timezone="Europe/Madrid", quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))
    assert is_quiet(quiet, datetime(2026, 11, 25, 22, 30, tzinfo=UTC))  # 23:30 in Madrid
    assert is_quiet(quiet, datetime(2026, 11, 25, 5, 0, tzinfo=UTC))  # 06:00 in Madrid
    assert not is_quiet(quiet, datetime(2026, 11, 25, 6, 0, tzinfo=UTC))  # 07:00 in Madrid
    assert not is_quiet(quiet, datetime(2026, 11, 25, 20, 59, tzinfo=UTC))  # 21:59 in Madrid
    assert not is_quiet(BusinessHours(timezone="UTC"), datetime(2026, 11, 25, 3, 0, tzinfo=UTC))


def test_no_automatic_reply_inside_quiet_hours(hours, alpha_channel):
    local_now = timezone.now().astimezone(ZoneInfo("Asia/Kolkata"))
    hours.timezone = "Asia/Kolkata"
    hours.quiet_hours_start = (local_now - timedelta(minutes=30)).time()
    hours.quiet_hours_end = (local_now + timedelta(minutes=30)).time()
    hours.save()
    rule(
        name="prices",
        keywords=["price"],
        actions=[
            {"type": "reply_text", "text": "See our prices."},
            {"type": "add_label", "label": "sales"},
        ],
    )
    message = inbound(alpha_channel, "price?")
    automation_inbound_handle(message_id=message.id)
    assert auto_replies() == []
    assert list(message.conversation.labels.values_list("name", flat=True)) == [
        "sales"
    ]  # non-replies still run
    assert AutomationLog.objects.filter(event="quiet_hours").exists()


def test_no_agent_reply_within_n_minutes(hours, alpha_channel, django_capture_on_commit_callbacks):
    from accounts.models import User
    from inbox.services import message_send

    waiting = rule(
        name="sorry",
        trigger="no_agent_reply",
        minutes=15,
        actions=[{"type": "reply_text", "text": "Sorry for the wait!"}],
    )
    message = inbound(alpha_channel, "hello?")
    assert automation_no_agent_reply_check(message_id=message.id, rule_id=waiting.id) is True
    assert auto_replies() == ["Sorry for the wait!"]
    hours.cooldown_s = 0
    hours.save()  # even without a cooldown, a redelivered check answers once
    assert automation_no_agent_reply_check(message_id=message.id, rule_id=waiting.id) is False
    # an agent answered: nothing happens
    answered = inbound(alpha_channel, "and my order?", customer="15550001111")
    message_send(conversation=answered.conversation, text="On its way", sender_user=User.objects.first())
    assert automation_no_agent_reply_check(message_id=answered.id, rule_id=waiting.id) is False
    # the check is scheduled N minutes out when the message arrives
    from unittest import mock

    with mock.patch("automation.tasks.check_no_agent_reply.apply_async") as scheduled:
        with django_capture_on_commit_callbacks(execute=True):
            automation_inbound_handle(message_id=inbound(alpha_channel, "x", customer="15550002222").id)
    assert scheduled.call_args.kwargs["countdown"] == 15 * 60
    assert scheduled.call_args.kwargs["headers"] == {"_schema_name": "alpha"}


def test_conditions_channel_department_tag_and_status(hours, alpha_channel):
    from accounts.models import Department
    from tests.channels_wa.webhooks import make_channel

    other_channel = make_channel("alpha", external_id="100000000000777")
    sales = Department.objects.create(name="Sales")
    rule(
        name="vip",
        keywords=["hi"],
        contact_tags=["vip"],
        channel_ids=[alpha_channel.id],
        department_ids=[sales.id],
        statuses=["open"],
    )
    message = inbound(alpha_channel, "hi")
    assert automation_inbound_handle(message_id=message.id) == []  # no tag, no department
    contact, conversation = message.conversation.contact, message.conversation
    contact.tags = ["vip"]
    contact.save()
    conversation.department = sales
    conversation.save()
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "hi").id) == ["vip"]
    conversation.status = "pending"
    conversation.save()
    AutoReplyRule.objects.update(actions=[{"type": "add_label", "label": "x"}])
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "hi").id) == []  # status is pending
    elsewhere = inbound(other_channel, "hi")
    assert automation_inbound_handle(message_id=elsewhere.id) == []  # another channel


def test_actions_assign_label_template_and_webhook(hours, alpha_channel):
    from accounts.models import Department, User

    support = Department.objects.create(name="Support")
    agent = User.objects.get(email="owner@alpha.test")
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example.test/x", secret="whsec_x", events=["automation.triggered"]
    )
    rule(
        name="complaint",
        keywords=["broken"],
        actions=[
            {"type": "assign", "department_id": support.id, "user_id": agent.id},
            {"type": "add_label", "label": "complaint"},
            {"type": "reply_template", "name": "complaint_ack", "language": "en"},
            {"type": "emit_webhook", "event": "complaint"},
        ],
    )
    message = inbound(alpha_channel, "my phone arrived broken")
    automation_inbound_handle(message_id=message.id)
    conversation = message.conversation
    conversation.refresh_from_db()
    assert (conversation.department, conversation.assignee) == (support, agent)
    assert list(conversation.labels.values_list("name", flat=True)) == ["complaint"]
    template = Message.objects.get(sender_kind="automation")
    assert template.kind == "template" and template.payload["name"] == "complaint_ack"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    body = json.loads(delivery.body)
    assert body["type"] == "automation.triggered"
    assert body["data"]["rule"]["name"] == "complaint" and body["data"]["label"] == "complaint"


def test_hand_to_ai_action(hours, alpha_channel, model_stub):
    from ai_personas.models import AIProvider, AIReply, ConversationAI, Persona

    provider = AIProvider.objects.create(name="s", kind="openai", base_url=f"{model_stub.base_url}/v1")
    persona = Persona.objects.create(name="Ava", provider=provider, model="m")
    rule(name="to-ai", keywords=["question"], actions=[{"type": "hand_to_ai", "persona_id": persona.id}])
    message = inbound(alpha_channel, "I have a question")
    automation_inbound_handle(message_id=message.id)
    assert ConversationAI.objects.get(conversation=message.conversation).persona == persona
    # the reply job was queued after commit; run it as the worker would
    from ai_personas.services import ai_reply_generate

    assert ai_reply_generate(inbound_message_id=message.id).status == AIReply.Status.SENT
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "question 2").id) == ["ai"]


def test_rule_order_and_stop(hours, alpha_channel):
    rule(name="second", position=2, keywords=["order"])
    first = rule(name="first", position=1, keywords=["order"], stop_after=True)
    rule(name="third", position=3, keywords=["order"])
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "order?").id) == ["first"]
    first.stop_after = False
    first.save()
    hours.cooldown_s = 0
    hours.save()
    fired = automation_inbound_handle(message_id=inbound(alpha_channel, "order!").id)
    assert fired == ["first", "second", "third"]


def test_cooldown_per_contact(hours, alpha_channel):
    rule(name="prices", keywords=["price"])
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "price").id) == ["prices"]
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "price??").id) == []
    assert AutomationLog.objects.filter(event="cooldown").count() == 1
    # another contact is answered
    assert automation_inbound_handle(
        message_id=inbound(alpha_channel, "price", customer="15550003333").id
    ) == ["prices"]
    assert len(auto_replies()) == 2


def test_loop_guard_stops_two_bots_answering_each_other(hours, alpha_channel):
    hours.cooldown_s, hours.loop_limit, hours.loop_window_s = 0, 3, 600
    hours.save()
    rule(name="echo", trigger="keyword", match="regex", keywords=[".*"])
    for i in range(6):  # a bot on the other side answers every auto-reply
        automation_inbound_handle(message_id=inbound(alpha_channel, f"Auto-reply from a bot #{i}").id)
    assert len(auto_replies()) == 3
    assert AutomationLog.objects.filter(event="loop_guard", level="warning").count() == 3


def test_integration_forwards_signed_and_replies_with_the_response(hours, alpha_channel, integration_stub):
    stub = integration_stub(reply={"reply": "Order 42 ships tomorrow."})
    integration = Integration.objects.create(name="ERP", url=stub.url, api_key="erp-key-123")
    rule(
        name="orders",
        keywords=["order"],
        actions=[{"type": "forward_integration", "integration_id": integration.id}],
    )
    message = inbound(alpha_channel, "where is my order?")
    automation_inbound_handle(message_id=message.id)
    assert auto_replies() == ["Order 42 ships tomorrow."]
    headers, raw = stub.requests[0]
    assert headers["authorization"] == "Bearer erp-key-123"
    timestamp, digest = (part.split("=", 1)[1] for part in headers["x-omnidesk-signature"].split(","))
    expected = hmac.new(b"erp-key-123", f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected)
    assert json.loads(raw)["message"]["text"] == "where is my order?"
    # the key is stored encrypted
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM automation_integration WHERE id = %s", [integration.id])
        assert "erp-key-123" not in cursor.fetchone()[0]


@pytest.mark.parametrize("failure", ["http_500", "unreachable"])
def test_integration_failures_are_logged_on_the_conversation(failure, hours, alpha_channel, integration_stub):
    if failure == "http_500":
        url = integration_stub(status=500, reply="boom").url
    else:
        from tests.helpers import free_port

        url = f"http://127.0.0.1:{free_port()}/nothing"
    integration = Integration.objects.create(name="CRM", url=url, api_key="k", timeout_s=2)
    rule(
        name="fwd",
        keywords=["hi"],
        actions=[{"type": "forward_integration", "integration_id": integration.id}],
    )
    message = inbound(alpha_channel, "hi")
    automation_inbound_handle(message_id=message.id)
    log = AutomationLog.objects.get(event="integration_failed")
    assert log.level == "error" and "CRM" in log.detail and log.conversation == message.conversation
    assert Note.objects.filter(
        conversation=message.conversation, body__contains="forward to CRM failed"
    ).exists()
    assert auto_replies() == []


def test_rules_are_validated(in_alpha):
    with pytest.raises(ValidationFailed):
        rule(name="bad", keywords=["("], match="regex")
    with pytest.raises(ValidationFailed):
        rule(name="empty", keywords=[])
    with pytest.raises(ValidationFailed):
        rule(name="nothing", keywords=["x"], actions=[{"type": "launch_rockets"}])
    with pytest.raises(ValidationFailed):
        rule(name="wait", trigger="no_agent_reply", actions=[{"type": "add_label", "label": "x"}])


def test_a_company_s_rules_never_touch_another_company(alpha, beta, alpha_channel, beta_channel):
    with schema_context("alpha"):
        business_hours_get()
        rule(name="alpha-prices", keywords=["price"])
    with schema_context("beta"):
        message = inbound(beta_channel, "price")
        assert automation_inbound_handle(message_id=message.id) == []
        assert auto_replies() == []
    with schema_context("alpha"):
        assert AutomationLog.objects.count() == 0


def test_a_persona_serving_the_channel_answers_instead_of_the_away_message(hours, alpha_channel):
    from ai_personas.models import AIProvider, Persona

    hours.schedule, hours.is_away_message_enabled = {}, True
    hours.save()
    provider = AIProvider.objects.create(name="s", kind="openai")
    persona = Persona.objects.create(name="Night shift", provider=provider, model="m")
    persona.channels.add(alpha_channel)
    assert automation_inbound_handle(message_id=inbound(alpha_channel, "anyone at 3 am?").id) == ["ai"]
    assert auto_replies() == []
    persona.is_active = False
    persona.save()
    other = inbound(alpha_channel, "hello", customer="15550004444")
    assert automation_inbound_handle(message_id=other.id) == ["away_message"]


def test_a_broken_action_is_logged_and_the_next_one_still_runs(hours, alpha_channel):
    rule(name="broken", keywords=["hi"], actions=[{"type": "add_label", "label": "first"}])
    # an action edited by hand into something invalid (a user id that is not a number)
    AutoReplyRule.objects.update(
        actions=[{"type": "assign", "user_id": "not-a-number"}, {"type": "add_label", "label": "still"}]
    )
    message = inbound(alpha_channel, "hi")
    assert automation_inbound_handle(message_id=message.id) == ["broken"]
    assert list(message.conversation.labels.values_list("name", flat=True)) == ["still"]
    log = AutomationLog.objects.get(event="action_failed")
    assert log.level == "error" and "assign failed" in log.detail
