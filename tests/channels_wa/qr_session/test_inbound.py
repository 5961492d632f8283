"""Events from a session reach the inbox: LID senders are mapped to phones (and merged once known),
group messages are ignored unless the company enables them, receipts move statuses forward."""

from __future__ import annotations

from datetime import UTC, datetime

from django_tenants.utils import schema_context
from neonize.proto import Neonize_pb2 as neonize_proto
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from channels_wa.models import LidMapping
from channels_wa.providers.base import StatusUpdate
from channels_wa.providers.qr_session.client import message_to_inbound
from channels_wa.providers.qr_session.services import qr_inbound_apply
from inbox.models import Contact, Message
from tests.helpers import unique

PN = neonize_proto.JID(User="15557654321", Server="s.whatsapp.net")
LID = neonize_proto.JID(User="987654321000001", Server="lid")
GROUP = neonize_proto.JID(User="120363000000000777", Server="g.us")


def event(text: str, *, sender=PN, alt=None, chat=None, is_group=False, message_id=None):
    source = neonize_proto.MessageSource(Chat=chat or sender, Sender=sender, SenderAlt=alt, IsGroup=is_group)
    info = neonize_proto.MessageInfo(
        MessageSource=source, ID=message_id or unique("3EB0"), Pushname="Maria", Timestamp=1_760_000_000
    )
    return message_to_inbound(
        neonize_proto.Message(Info=info, Message=e2e.Message(conversation=text)), external_id="x"
    )


def test_text_is_stored_once(qr_channel):
    with schema_context("alpha"):
        inbound = event("hola", message_id="3EB0DUP")
        assert qr_inbound_apply(channel=qr_channel, event=inbound) == "stored"
        assert qr_inbound_apply(channel=qr_channel, event=inbound) == "duplicate"
        message = Message.objects.get(channel=qr_channel, provider_message_id="3EB0DUP")
        assert message.body == "hola" and message.conversation.contact.phone == "+15557654321"


def test_qr_conversations_have_no_24_hour_window(qr_channel):
    """WhatsApp Web has no customer service window: a reply days later still goes."""
    from inbox.models import Conversation
    from inbox.services import message_send

    with schema_context("alpha"):
        qr_inbound_apply(channel=qr_channel, event=event("hi"))
        conversation = Conversation.objects.get(channel=qr_channel)
        Conversation.objects.filter(pk=conversation.pk).update(
            window_expires_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        conversation.refresh_from_db()
        message = message_send(conversation=conversation, text="Still here?")
        assert message.status == "queued"  # accepted (a Cloud API channel would refuse: window_closed)


def test_lid_only_sender_then_phone_learned_merges_the_contacts(qr_channel):
    with schema_context("alpha"):
        assert qr_inbound_apply(channel=qr_channel, event=event("first", sender=LID)) == "stored"
        lid_contact = Contact.objects.get(whatsapp_id="lid:987654321000001")
        assert lid_contact.phone == ""
        # The customer also writes from a device that shows the phone, so WhatsApp sends both ids.
        qr_inbound_apply(channel=qr_channel, event=event("second", sender=PN, alt=LID))
        assert LidMapping.objects.get(lid="987654321000001").phone == "+15557654321"
        contacts = Contact.objects.filter(phone="+15557654321")
        assert contacts.count() == 1
        contact = contacts.get()
        assert not Contact.objects.filter(whatsapp_id="lid:987654321000001").exists()
        bodies = sorted(Message.objects.filter(conversation__contact=contact).values_list("body", flat=True))
        assert bodies == ["first", "second"]
        # Later LID-only messages land on the phone contact straight away.
        qr_inbound_apply(channel=qr_channel, event=event("third", sender=LID))
        assert Message.objects.get(body="third").conversation.contact_id == contact.id


def test_lid_learned_before_any_phone_contact_renames_the_lid_contact(qr_channel):
    with schema_context("alpha"):
        qr_inbound_apply(channel=qr_channel, event=event("first", sender=LID))
        lid_contact = Contact.objects.get(whatsapp_id="lid:987654321000001")
        # A send learned the mapping while no phone contact existed yet.
        from channels_wa.providers.qr_session.services import lid_learn

        lid_learn(lid="987654321000001", phone="+15557654321")
        lid_contact.refresh_from_db()
        assert (lid_contact.whatsapp_id, lid_contact.phone) == ("15557654321", "+15557654321")


def test_group_messages_are_ignored_unless_enabled(qr_channel):
    with schema_context("alpha"):
        group_event = event("hello group", chat=GROUP, is_group=True)
        assert qr_inbound_apply(channel=qr_channel, event=group_event) == "ignored"
        assert not Message.objects.filter(channel=qr_channel).exists()
        session = qr_channel.qr_session
        session.is_group_messages_enabled = True
        session.save()
        assert qr_inbound_apply(channel=qr_channel, event=group_event) == "stored"
        message = Message.objects.get(channel=qr_channel)
        assert message.conversation.contact.whatsapp_id == "g:120363000000000777"


def test_receipts_move_statuses_forward_only(qr_channel):
    from inbox.models import Conversation

    with schema_context("alpha"):
        qr_inbound_apply(channel=qr_channel, event=event("hi"))
        conversation = Conversation.objects.get(channel=qr_channel)
        sent = Message.objects.create(
            conversation=conversation,
            channel=qr_channel,
            direction="outbound",
            kind="text",
            body="ok",
            status="sent",
            provider_message_id="3EB0OUT",
        )
        at = datetime(2026, 1, 1, tzinfo=UTC)
        for status in ("read", "delivered"):
            update = StatusUpdate(external_id="x", provider_message_id="3EB0OUT", status=status, timestamp=at)
            assert qr_inbound_apply(channel=qr_channel, event=update) == "status"
        sent.refresh_from_db()
        assert sent.status == "read" and sent.delivered_at is not None and sent.read_at is not None
