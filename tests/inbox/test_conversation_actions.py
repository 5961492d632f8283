from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Department, User
from core.errors import BusinessRuleViolation, ValidationFailed
from inbox.models import Contact, Conversation, Note
from inbox.services import conversation_assign, conversation_label, conversation_set_status, note_create
from tests.channels_wa.webhooks import make_channel
from tests.helpers import capture_realtime_events


@pytest.fixture
def conversation(alpha):
    channel = make_channel("alpha")
    with schema_context("alpha"):
        contact = Contact.objects.create(whatsapp_id="15551230000", phone="+15551230000")
        return Conversation.objects.create(contact=contact, channel=channel)


def events(sent):
    return [(event, payload["status"], payload["assignee_id"]) for event, payload, _ in sent]


def test_assign_resolve_reopen_and_snooze_emit_conversation_updates(
    conversation, django_capture_on_commit_callbacks
):
    with schema_context("alpha"):
        owner = User.objects.get(email="owner@alpha.test")
        department = Department.objects.get(name="General")
        with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
            conversation_assign(conversation=conversation, assignee=owner, department_id=department.id)
            conversation_set_status(conversation=conversation, status="resolved")
            conversation_set_status(conversation=conversation, status="open")
            conversation_set_status(
                conversation=conversation, status="snoozed", snoozed_until=timezone.now() + timedelta(hours=2)
            )
        conversation.refresh_from_db()
    assert events(sent) == [
        ("conversation.updated", "open", owner.id),
        ("conversation.updated", "resolved", owner.id),
        ("conversation.updated", "open", owner.id),
        ("conversation.updated", "snoozed", owner.id),
    ]
    assert conversation.department_id == department.id and conversation.snoozed_until


def test_snooze_needs_a_time_and_unknown_statuses_are_refused(conversation):
    with schema_context("alpha"):
        with pytest.raises(ValidationFailed):
            conversation_set_status(conversation=conversation, status="snoozed")
        with pytest.raises(ValidationFailed):
            conversation_set_status(conversation=conversation, status="archived")


def test_reopening_is_refused_when_another_conversation_is_open(conversation):
    with schema_context("alpha"):
        conversation_set_status(conversation=conversation, status="resolved")
        Conversation.objects.create(contact=conversation.contact, channel=conversation.channel)
        with pytest.raises(BusinessRuleViolation) as error:
            conversation_set_status(conversation=conversation, status="open")
    assert error.value.code == "conversation_already_open"


def test_labels_and_private_notes(conversation):
    with schema_context("alpha"):
        owner = User.objects.get(email="owner@alpha.test")
        conversation_label(conversation=conversation, add=["vip", "billing"])
        conversation_label(conversation=conversation, remove=["billing"])
        assert list(conversation.labels.values_list("name", flat=True)) == ["vip"]
        note = note_create(conversation=conversation, author=owner, body="Called them back.")
        assert Note.objects.get() == note
        with pytest.raises(ValidationFailed):
            note_create(conversation=conversation, author=owner, body="  ")


def test_a_new_inbound_message_reopens_a_resolved_conversation(alpha, django_capture_on_commit_callbacks):
    from tests.channels_wa.webhooks import channel_path, fixture_body, post_webhook

    channel = make_channel("alpha")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost",
            path=channel_path(channel),
            body=fixture_body("message__text", phone_number_id=channel.external_id),
        )
    with schema_context("alpha"):
        first = Conversation.objects.get()
        conversation_set_status(conversation=first, status="resolved")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost",
            path=channel_path(channel),
            body=fixture_body("message__image", phone_number_id=channel.external_id),
        )
    with schema_context("alpha"):
        assert Conversation.objects.count() == 1
        first.refresh_from_db()
        assert first.status == "open" and first.messages.count() == 2
