"""neonize's own event and protobuf types, built locally, become neutral inbound events."""

from __future__ import annotations

from neonize.proto import Neonize_pb2 as neonize_proto
from neonize.proto.waCommon import WACommon_pb2 as common
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from channels_wa.providers.base import InboundMessage, StatusUpdate
from channels_wa.providers.qr_session.client import dispatch_event, message_to_inbound, recipient_jid

PN = neonize_proto.JID(User="15551234567", Server="s.whatsapp.net")
LID = neonize_proto.JID(User="123456789012345", Server="lid")


def incoming(message: e2e.Message, *, sender=PN, alt=None, chat=None, is_group=False, from_me=False):
    source = neonize_proto.MessageSource(
        Chat=chat or sender, Sender=sender, IsFromMe=from_me, IsGroup=is_group, SenderAlt=alt
    )
    info = neonize_proto.MessageInfo(
        MessageSource=source, ID="3EB0AAA", Pushname="Ana", Timestamp=1_700_000_000, Type="text"
    )
    return neonize_proto.Message(Info=info, Message=message)


def to_inbound(event) -> InboundMessage:
    result = message_to_inbound(event, external_id="qr-1")
    assert result is not None
    return result


def test_text_message():
    event = to_inbound(incoming(e2e.Message(conversation="Hello there")))
    assert (event.kind, event.text, event.provider_message_id) == ("text", "Hello there", "3EB0AAA")
    assert (event.from_id, event.from_phone, event.profile_name) == ("15551234567", "+15551234567", "Ana")
    assert event.timestamp.timestamp() == 1_700_000_000
    assert event.external_id == "qr-1"


def test_quoted_reply_keeps_the_quoted_id():
    quoted = e2e.ExtendedTextMessage(text="Yes please", contextInfo=e2e.ContextInfo(stanzaID="3EB0QUOTED"))
    event = to_inbound(incoming(e2e.Message(extendedTextMessage=quoted)))
    assert (event.kind, event.text, event.reply_to) == ("text", "Yes please", "3EB0QUOTED")


def test_image_with_caption():
    image = e2e.ImageMessage(mimetype="image/jpeg", caption="Receipt", fileSHA256=b"\x01\x02")
    event = to_inbound(incoming(e2e.Message(imageMessage=image)))
    assert (event.kind, event.text) == ("image", "Receipt")
    assert (event.media.mime_type, event.media.caption, event.media.sha256) == (
        "image/jpeg",
        "Receipt",
        "0102",
    )


def test_document_and_voice_note():
    doc = e2e.DocumentMessage(mimetype="application/pdf", fileName="invoice.pdf")
    assert to_inbound(incoming(e2e.Message(documentMessage=doc))).media.filename == "invoice.pdf"
    voice = to_inbound(incoming(e2e.Message(audioMessage=e2e.AudioMessage(mimetype="audio/ogg", PTT=True))))
    assert (voice.kind, voice.media.is_voice) == ("audio", True)


def test_location():
    location = e2e.LocationMessage(
        degreesLatitude=52.52, degreesLongitude=13.40, name="Office", address="Main St"
    )
    event = to_inbound(incoming(e2e.Message(locationMessage=location)))
    assert event.kind == "location"
    assert (event.location.latitude, event.location.longitude, event.location.name) == (
        52.52,
        13.40,
        "Office",
    )


def test_contacts_single_and_array():
    card = e2e.ContactMessage(displayName="Bob", vcard="BEGIN:VCARD\nFN:Bob\nEND:VCARD")
    single = to_inbound(incoming(e2e.Message(contactMessage=card)))
    assert single.kind == "contacts" and single.contacts == [{"name": "Bob", "vcard": card.vcard}]
    many = e2e.ContactsArrayMessage(contacts=[card, e2e.ContactMessage(displayName="Eve", vcard="V")])
    assert [c["name"] for c in to_inbound(incoming(e2e.Message(contactsArrayMessage=many))).contacts] == [
        "Bob",
        "Eve",
    ]


def test_reaction():
    reaction = e2e.ReactionMessage(key=common.MessageKey(ID="3EB0MINE"), text="👍")
    event = to_inbound(incoming(e2e.Message(reactionMessage=reaction)))
    assert (event.kind, event.text, event.reaction_to) == ("reaction", "👍", "3EB0MINE")


def test_unknown_content_is_unsupported_not_dropped():
    event = to_inbound(incoming(e2e.Message(pollCreationMessage=e2e.PollCreationMessage(name="Lunch?"))))
    assert event.kind == "unsupported"


def test_lid_sender_with_phone_alternative():
    event = to_inbound(incoming(e2e.Message(conversation="hi"), sender=LID, alt=PN))
    assert (event.from_id, event.from_phone) == ("15551234567", "+15551234567")
    assert event.raw["sender_lid"] == "123456789012345"


def test_lid_sender_without_phone():
    event = to_inbound(incoming(e2e.Message(conversation="hi"), sender=LID))
    assert (event.from_id, event.from_phone) == ("lid:123456789012345", "")


def test_group_message_is_marked():
    group = neonize_proto.JID(User="120363000000000001", Server="g.us")
    event = to_inbound(incoming(e2e.Message(conversation="hello all"), chat=group, is_group=True))
    assert event.raw["is_group"] is True and event.raw["chat"] == "120363000000000001@g.us"


def test_own_messages_are_not_inbound():
    assert message_to_inbound(incoming(e2e.Message(conversation="x"), from_me=True), external_id="q") is None


class Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))


def test_receipts_become_delivered_and_read_statuses():
    recorder = Recorder()
    source = neonize_proto.MessageSource(Chat=PN, Sender=PN)
    for kind in (neonize_proto.Receipt.DELIVERED, neonize_proto.Receipt.READ, neonize_proto.Receipt.PLAYED):
        receipt = neonize_proto.Receipt(
            MessageSource=source, MessageIDs=["A", "B"], Timestamp=1_700_000_100, Type=kind
        )
        dispatch_event(recorder, receipt, external_id="qr-1")
    statuses = [(call[1].provider_message_id, call[1].status) for call in recorder.calls]
    assert statuses == [
        ("A", "delivered"),
        ("B", "delivered"),
        ("A", "read"),
        ("B", "read"),
        ("A", "read"),
        ("B", "read"),
    ]
    assert all(isinstance(call[1], StatusUpdate) for call in recorder.calls)


def test_own_device_receipts_and_retries_are_ignored():
    recorder = Recorder()
    mine = neonize_proto.MessageSource(Chat=PN, Sender=PN, IsFromMe=True)
    dispatch_event(
        recorder,
        neonize_proto.Receipt(MessageSource=mine, MessageIDs=["A"], Type=neonize_proto.Receipt.READ_SELF),
        external_id="q",
    )
    other = neonize_proto.MessageSource(Chat=PN, Sender=PN)
    dispatch_event(
        recorder,
        neonize_proto.Receipt(MessageSource=other, MessageIDs=["A"], Type=neonize_proto.Receipt.RETRY),
        external_id="q",
    )
    assert recorder.calls == []


def test_connection_events_map_to_lifecycle_calls():
    recorder = Recorder()
    device = neonize_proto.JID(User="15550001111", Device=3, Server="s.whatsapp.net")
    events = [
        neonize_proto.PairStatus(ID=device, Status=neonize_proto.PairStatus.SUCCESS),
        neonize_proto.Connected(status=True),
        neonize_proto.Disconnected(status=True),
        neonize_proto.LoggedOut(OnConnect=False, Reason=neonize_proto.ConnectFailureReason.LOGGED_OUT),
        neonize_proto.TemporaryBan(
            Code=neonize_proto.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=1_700_003_600
        ),
        neonize_proto.PairStatus(Status=neonize_proto.PairStatus.ERROR, Error="bad code"),
        neonize_proto.StreamReplaced(),
    ]
    for event in events:
        dispatch_event(recorder, event, external_id="q")
    names = [call[0] for call in recorder.calls]
    assert names == [
        "on_paired",
        "on_connected",
        "on_disconnected",
        "on_logged_out",
        "on_auth_failed",
        "on_auth_failed",
        "on_disconnected",
    ]
    assert recorder.calls[0][1] == "15550001111@s.whatsapp.net"
    assert "SEND_TO_TOO_MANY_PEOPLE" in recorder.calls[4][1] and "2023-11-14" in recorder.calls[4][1]


def test_recipient_jids():
    assert (recipient_jid("+15551234567").User, recipient_jid("+15551234567").Server) == (
        "15551234567",
        "s.whatsapp.net",
    )
    assert recipient_jid("lid:42").Server == "lid"
    assert recipient_jid("+g:120363").Server == "g.us"
