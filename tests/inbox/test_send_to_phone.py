"""Sending to a phone number or a scoped id: a known recipient is found, with its open conversation on the
channel, in one read (the API's and campaigns' common case); a new one gets a contact and conversation."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from channels_wa.selectors import channel_get
from inbox.models import Contact, ContactIdentity, Conversation
from inbox.selectors import contact_with_open_conversation
from inbox.services import message_send_to_phone
from tests.channels_wa.webhooks import make_channel
from tests.helpers import capture_realtime_events

TEMPLATE = {"name": "hello_world", "language": "en_US"}


@pytest.fixture
def channel(alpha, sandbox, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://{host}:9"  # status callbacks go nowhere here
    with django_capture_on_commit_callbacks(execute=True):
        return make_channel("alpha", provider="sandbox", api_base_url=sandbox.base_url)


def known_contact(channel, *, phone="+15553330001", with_conversation=True, status="open"):
    contact = Contact.objects.create(
        phone=phone, whatsapp_id="15553330001", tags=["vip"], custom_attributes={"plan": "gold"}
    )
    ContactIdentity.objects.create(contact=contact, kind="whatsapp", value="15553330001")
    conversation = (
        Conversation.objects.create(contact=contact, channel=channel, status=status)
        if with_conversation
        else None
    )
    return contact, conversation


def test_a_known_number_reuses_its_contact_and_open_conversation_in_one_read(
    channel, django_capture_on_commit_callbacks
):
    with schema_context("alpha"):
        contact, conversation = known_contact(channel)
        with capture_realtime_events() as events, django_capture_on_commit_callbacks(execute=True):
            with CaptureQueriesContext(connection) as queries:
                message = message_send_to_phone(
                    channel=channel, phone="+1 555 333 0001", kind="template", payload=TEMPLATE
                )
        assert message.conversation_id == conversation.id
        message.refresh_from_db()
        assert message.status == "sent"  # the worker's task (run inline here) delivered it
        assert Contact.objects.count() == 1 and Conversation.objects.count() == 1
        # (outside a request the plan's quota is read too: a request has its company already)
        sql = [q["sql"] for q in queries.captured_queries if "tenants_" not in q["sql"]]
        reads = [statement for statement in sql if statement.startswith("SELECT")]
        assert len(reads) == 1 and len(sql) <= 5, sql  # savepoint, read, insert, update, release
        conversation.refresh_from_db()
        assert conversation.last_message_preview == "[template]"
    assert [event for event, _, _ in events] == ["message.created", "conversation.updated", "message.updated"]


def test_the_one_read_loads_what_the_orm_loads(channel):
    with schema_context("alpha"):
        contact, conversation = known_contact(channel)
        found_contact, found_conversation = contact_with_open_conversation(
            kind="whatsapp", scope="", value="15553330001", channel_id=channel.id
        )
        for expected, found in ((contact, found_contact), (conversation, found_conversation)):
            expected.refresh_from_db()
            fields = type(expected)._meta.concrete_fields
            assert [f.value_from_object(found) for f in fields] == [
                f.value_from_object(expected) for f in fields
            ]
        assert found_contact.tags == ["vip"] and found_contact.custom_attributes == {"plan": "gold"}
        assert found_conversation.contact is found_contact
        assert (
            contact_with_open_conversation(
                kind="whatsapp", scope="", value="15550000000", channel_id=channel.id
            )
            is None
        )


def test_a_known_number_whose_conversation_is_resolved_gets_a_new_one(
    channel, django_capture_on_commit_callbacks
):
    with schema_context("alpha"):
        contact, resolved = known_contact(channel, status="resolved")
        with capture_realtime_events() as events, django_capture_on_commit_callbacks(execute=True):
            message = message_send_to_phone(
                channel=channel, phone="+15553330001", kind="template", payload=TEMPLATE
            )
        assert message.conversation_id != resolved.id
        assert message.conversation.contact_id == contact.id and message.conversation.status == "open"
        assert Contact.objects.count() == 1
    assert [event for event, _, _ in events] == [
        "conversation.created",
        "message.created",
        "conversation.updated",
        "message.updated",
    ]


def test_a_known_number_on_another_channel_gets_its_own_conversation(channel):
    with schema_context("alpha"):
        contact, first = known_contact(channel)
        other = make_channel("alpha", external_id="600000000000099")
        with schema_context("alpha"):  # make_channel leaves the schema
            message = message_send_to_phone(
                channel=other, phone="+15553330001", kind="template", payload=TEMPLATE
            )
        assert message.conversation_id != first.id and message.conversation.channel_id == other.id
        assert message.conversation.contact_id == contact.id


def test_a_known_whatsapp_id_without_a_phone_gets_it(channel):
    with schema_context("alpha"):
        contact, _ = known_contact(channel, phone="")
        message_send_to_phone(channel=channel, phone="+15553330001", kind="template", payload=TEMPLATE)
        contact.refresh_from_db()
        assert contact.phone == "+15553330001"


def test_channel_get_is_the_channel_the_orm_loads_with_its_secrets(channel):
    with schema_context("alpha"):
        found = channel_get(channel_id=channel.id)
        expected = Channel.objects.get(pk=channel.id)
        fields = Channel._meta.concrete_fields
        assert [f.value_from_object(found) for f in fields] == [f.value_from_object(expected) for f in fields]
        assert found.access_token == "test-token" and not found.get_deferred_fields()
        assert channel_get(channel_id=channel.id + 1000) is None
        assert channel_get(channel_id=10**30) is None


def test_the_message_and_the_conversations_activity_are_stored_as_the_orm_saves_them(channel):
    """message_send writes both in one statement; the rows read back equal the instances it returned."""
    with schema_context("alpha"):
        _, conversation = known_contact(channel)
        message = message_send_to_phone(
            channel=channel,
            phone="+15553330001",
            kind="template",
            payload={**TEMPLATE, "body_params": ["Ana"]},
        )
        assert message.pk and not message._state.adding
        stored = type(message).objects.get(pk=message.pk)
        fields = type(message)._meta.concrete_fields
        assert [f.value_from_object(stored) for f in fields] == [f.value_from_object(message) for f in fields]
        assert stored.payload == {**TEMPLATE, "body_params": ["Ana"]} and stored.media_file.name == ""
        conversation.refresh_from_db()
        assert conversation.last_message_at == message.created_at
        assert conversation.updated_at >= message.created_at and conversation.unread_count == 0


def test_a_new_number_gets_a_contact_and_conversation_without_lookups_it_cannot_need(
    channel, django_capture_on_commit_callbacks
):
    """The one read found nobody: the contact is created (after one look for the same number under another
    identity), and its conversation is created straight away, since no one else can see the contact yet."""
    with schema_context("alpha"):
        with capture_realtime_events() as events, django_capture_on_commit_callbacks(execute=True):
            with CaptureQueriesContext(connection) as queries:
                message = message_send_to_phone(
                    channel=channel, phone="+1 555 333 0002", kind="template", payload=TEMPLATE
                )
        contact = Contact.objects.get(whatsapp_id="15553330002")
        assert contact.phone == "+15553330002"
        assert ContactIdentity.objects.filter(contact=contact, kind="whatsapp", value="15553330002").exists()
        assert message.conversation.contact_id == contact.id and Conversation.objects.count() == 1
        sql = [q["sql"] for q in queries.captured_queries if "tenants_" not in q["sql"]]
        reads = [s for s in sql if s.startswith("SELECT") and "automation_webhookendpoint" not in s]
        # the one read, the same-number look; no second identity lookup, no conversation lookup
        assert len(reads) == 2 and "inbox_contactidentity" in reads[0]
        assert "FROM inbox_contact c " in reads[1] and "inbox_conversation" not in reads[1]
    assert [event for event, _, _ in events] == [
        "conversation.created",
        "message.created",
        "conversation.updated",
        "message.updated",
    ]


def test_a_new_identity_joins_the_contact_that_has_its_phone(channel):
    with schema_context("alpha"):
        imported = Contact.objects.create(phone="+15553330003", name="Imported")  # a CSV import: no identity
        message = message_send_to_phone(
            channel=channel, phone="+15553330003", kind="template", payload=TEMPLATE
        )
        assert message.conversation.contact_id == imported.id and Contact.objects.count() == 1
        imported.refresh_from_db()
        assert imported.whatsapp_id == "15553330003"
        assert ContactIdentity.objects.get(kind="whatsapp", value="15553330003").contact_id == imported.id


def test_an_identity_taken_meanwhile_leaves_no_second_contact(channel):
    """Another worker recorded the identity between our read and our insert: its contact is used and ours
    is rolled back."""
    from inbox import services

    with schema_context("alpha"):
        other = Contact.objects.create(phone="", whatsapp_id="")
        ContactIdentity.objects.create(contact=other, kind="whatsapp", value="15553330004")
        contact, is_created = services._contact_upsert(
            kind="whatsapp", value="15553330004", phone="+15553330004", is_identity_unknown=True
        )
        assert contact.id == other.id and not is_created
        assert Contact.objects.count() == 1


def test_the_same_number_look_prefers_the_whatsapp_id_then_the_oldest_free_phone(channel):
    from inbox.selectors import contact_by_number

    with schema_context("alpha"):
        assert contact_by_number(whatsapp_id="15553330005", phone="+15553330005") is None
        assert contact_by_number(whatsapp_id="", phone="") is None
        someone_else = Contact.objects.create(phone="+15553330005", whatsapp_id="15550000000")
        oldest = Contact.objects.create(phone="+15553330005", name="Oldest")
        Contact.objects.create(phone="+15553330005", name="Newer")
        # another WhatsApp id on the same phone is another person; of the free ones, the oldest
        assert contact_by_number(whatsapp_id="15553330005", phone="+15553330005").id == oldest.id
        assert contact_by_number(whatsapp_id="", phone="+15553330005").id == someone_else.id  # SMS: oldest
        exact = Contact.objects.create(phone="", whatsapp_id="15553330005", tags=["vip"])
        found = contact_by_number(whatsapp_id="15553330005", phone="+15553330005")
        assert found.id == exact.id and found.tags == ["vip"]
        assert contact_by_number(whatsapp_id="15553330005", phone="").id == exact.id
        assert contact_by_number(whatsapp_id="15559999999", phone="") is None  # never the phone-less ones
