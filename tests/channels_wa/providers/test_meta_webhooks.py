"""Every Meta WhatsApp fixture parsed into the exact neutral events the inbox will store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels_wa.providers import base
from channels_wa.providers.base import ChannelConfig, InboundMessage, StatusUpdate, WebhookError
from channels_wa.providers.meta_whatsapp import MetaWhatsAppProvider, phone_number_ids, webhooks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "meta_whatsapp"
NUMBER_ID = "100000000000001"
SENT_AT = datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)  # 1750000000


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def one_message(name: str) -> InboundMessage:
    events = webhooks.parse(body(name))
    assert len(events) == 1
    message = events[0]
    assert isinstance(message, InboundMessage)
    assert message.external_id == NUMBER_ID
    assert message.from_id == "15551234567"
    assert message.from_phone == "+15551234567"
    assert message.timestamp == SENT_AT
    assert message.raw == json.loads(body(name))["entry"][0]["changes"][0]["value"]["messages"][0]
    return message


def one_status(name: str) -> StatusUpdate:
    events = webhooks.parse(body(name))
    assert len(events) == 1
    status = events[0]
    assert isinstance(status, StatusUpdate)
    assert status.external_id == NUMBER_ID
    assert status.provider_message_id == "wamid.OUTBOUND01"
    assert status.recipient_id == "15551234567"
    assert status.timestamp == SENT_AT
    return status


def test_every_fixture_parses():
    names = sorted(path.stem for path in FIXTURES.glob("*.json"))
    assert len(names) == 24
    for name in names:
        assert webhooks.parse(body(name)), name


def test_text():
    message = one_message("message__text")
    assert message.kind == base.TEXT
    assert message.text == "Hi, is my order ready?"
    assert message.profile_name == "Carla Customer"
    assert message.provider_message_id.endswith("TEXT01")
    assert message.reply_to == ""
    assert message.media is None
    assert message.errors == []


def test_text_with_context_keeps_the_quoted_message():
    message = one_message("message__text_with_context")
    assert message.text == "Yes, this one"
    assert message.reply_to == "wamid.OUTBOUND01"


def test_image():
    message = one_message("message__image")
    assert message.kind == base.IMAGE
    assert message.text == "The damaged box"
    assert message.media == base.InboundMedia(
        media_id="300000000000001",
        mime_type="image/jpeg",
        sha256="Cbdj1ZxVsD3/ZSc1F6rFwTbvQXpTWPhCmuLpcm4lqwA=",
        caption="The damaged box",
    )


def test_voice_note():
    message = one_message("message__audio_voice")
    assert message.kind == base.AUDIO
    assert message.media.media_id == "300000000000002"
    assert message.media.mime_type == "audio/ogg; codecs=opus"
    assert message.media.is_voice is True
    assert message.text == ""


def test_video():
    message = one_message("message__video")
    assert message.kind == base.VIDEO
    assert (message.media.media_id, message.media.mime_type) == ("300000000000003", "video/mp4")
    assert message.media.caption == "How it rattles"
    assert message.media.is_voice is False


def test_document_keeps_filename():
    message = one_message("message__document")
    assert message.kind == base.DOCUMENT
    assert message.media.filename == "invoice-2291.pdf"
    assert message.media.mime_type == "application/pdf"
    assert message.media.media_id == "300000000000004"
    assert message.text == "My invoice"


def test_sticker():
    message = one_message("message__sticker")
    assert message.kind == base.STICKER
    assert (message.media.media_id, message.media.mime_type) == ("300000000000005", "image/webp")


def test_location():
    message = one_message("message__location")
    assert message.kind == base.LOCATION
    assert message.location == base.LocationRef(
        latitude=37.48426,
        longitude=-122.14828,
        name="Main Street Pickup",
        address="1 Hacker Way, Menlo Park, CA 94025",
    )


def test_contacts_are_kept_whole():
    message = one_message("message__contacts")
    assert message.kind == base.CONTACTS
    assert message.text == "Dave Friend"
    assert len(message.contacts) == 1
    assert message.contacts[0]["phones"][0]["wa_id"] == "15559876543"
    assert message.contacts[0]["org"]["company"] == "Example Co"


def test_interactive_button_reply():
    message = one_message("message__interactive_button_reply")
    assert message.kind == base.INTERACTIVE
    assert (message.reply_id, message.text) == ("confirm_yes", "Yes, confirm")
    assert message.reply_to == "wamid.OUTBOUND02"


def test_interactive_list_reply():
    message = one_message("message__interactive_list_reply")
    assert message.kind == base.INTERACTIVE
    assert (message.reply_id, message.text) == ("slot_tue_10", "Tuesday 10:00")
    assert message.reply_to == "wamid.OUTBOUND03"


def test_template_quick_reply_button():
    message = one_message("message__button")
    assert message.kind == base.BUTTON
    assert (message.reply_id, message.text) == ("STOP_PROMOS", "Stop promotions")
    assert message.reply_to == "wamid.OUTBOUND04"


def test_reaction():
    message = one_message("message__reaction")
    assert message.kind == base.REACTION
    assert message.reaction_to == "wamid.OUTBOUND01"
    assert message.text == "\N{THUMBS UP SIGN}"


def test_removed_reaction_has_empty_emoji():
    payload = json.loads(body("message__reaction"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"] = {"message_id": "wamid.OUTBOUND01"}
    [message] = webhooks.parse(json.dumps(payload).encode())
    assert message.kind == base.REACTION
    assert (message.reaction_to, message.text) == ("wamid.OUTBOUND01", "")


def test_order_summarises_and_keeps_the_order():
    message = one_message("message__order")
    assert message.kind == base.ORDER
    assert message.text == "Order of 3 items: Please gift wrap"
    assert message.raw["order"]["catalog_id"] == "400000000000001"
    assert len(message.raw["order"]["product_items"]) == 2


def test_system_message_without_contacts():
    message = one_message("message__system")
    assert message.kind == base.SYSTEM
    assert message.text == "User Carla Customer changed from 15551234567 to 15557654321"
    assert message.profile_name == ""


def test_unsupported_keeps_meta_error():
    message = one_message("message__unsupported")
    assert message.kind == base.UNSUPPORTED
    assert message.errors == [
        base.ProviderError(
            code="131051",
            title="Message type unknown",
            detail="Message type is currently not supported.",
            is_transient=False,
        )
    ]
    assert message.raw["unsupported"] == {"type": "poll_creation"}


def test_unknown_type_becomes_unsupported_with_raw_kept():
    message = one_message("message__unknown_type")
    assert message.kind == base.UNSUPPORTED
    assert message.text == ""
    assert message.errors == []
    assert message.raw["type"] == "hologram"
    assert message.raw["hologram"]["frames"] == 240


@pytest.mark.parametrize("name,status", [("status__delivered", "delivered"), ("status__read", "read")])
def test_delivered_and_read(name, status):
    update = one_status(name)
    assert update.status == status
    assert update.error is None
    assert update.pricing == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "regular",
    }
    assert update.conversation == {"id": "500000000000001", "origin": {"type": "utility"}}


def test_sent_keeps_conversation_expiry_and_callback_data():
    update = one_status("status__sent")
    assert update.status == "sent"
    assert update.conversation["expiration_timestamp"] == "1750086400"
    assert update.pricing["billable"] is True
    assert update.raw["biz_opaque_callback_data"] == "msg-7f3a"


def test_failed_outside_the_window():
    update = one_status("status__failed")
    assert update.status == "failed"
    assert update.error.code == "131047"
    assert update.error.title == "Re-engagement message"
    assert update.error.detail.startswith("Message failed to send because more than 24 hours")
    assert update.error.is_transient is False
    assert update.error.http_status is None
    assert update.pricing == {}


def test_failed_undeliverable():
    update = one_status("status__failed_undeliverable")
    assert update.status == "failed"
    assert (update.error.code, update.error.title) == ("131026", "Message undeliverable")
    assert update.error.is_transient is False


@pytest.mark.parametrize("state", ["deleted", "warning"])
def test_other_statuses_kept_as_is(state):
    payload = json.loads(body("status__delivered"))
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = state
    [update] = webhooks.parse(json.dumps(payload).encode())
    assert update.status == state
    assert update.error is None


def test_failed_without_errors_still_carries_an_error():
    payload = json.loads(body("status__failed"))
    del payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    [update] = webhooks.parse(json.dumps(payload).encode())
    assert update.error.code == "unknown"


def test_app_level_error():
    events = webhooks.parse(body("error__app"))
    assert len(events) == 1
    [error] = events
    assert isinstance(error, WebhookError)
    assert error.external_id == NUMBER_ID
    assert error.error.code == "131042"
    assert error.error.title == "Business eligibility payment issue"
    assert error.error.is_transient is False
    assert error.raw["code"] == 131042


def test_two_numbers_in_one_delivery():
    payload = json.loads(body("multi__two_numbers"))
    assert phone_number_ids(payload) == ["100000000000001", "100000000000002"]
    events = webhooks.parse(body("multi__two_numbers"))
    assert [(e.external_id, e.text) for e in events] == [
        ("100000000000001", "Hello first number"),
        ("100000000000002", "Hello second number"),
    ]
    assert events[0].provider_message_id != events[1].provider_message_id


def test_provider_only_returns_its_own_number():
    second = MetaWhatsAppProvider(ChannelConfig(provider="meta_whatsapp", external_id="100000000000002"))
    [event] = second.parse_webhook(body("multi__two_numbers"), {})
    assert (event.external_id, event.text) == ("100000000000002", "Hello second number")
    unbound = MetaWhatsAppProvider(ChannelConfig(provider="meta_whatsapp", external_id=""))
    assert len(unbound.parse_webhook(body("multi__two_numbers"), {})) == 2


def test_phone_number_ids_tolerates_odd_shapes():
    assert phone_number_ids({}) == []
    assert phone_number_ids({"entry": "nope"}) == []
    assert phone_number_ids({"entry": [{"changes": [{"value": {"metadata": {}}}, 3]}, None]}) == []
    duplicated = json.loads(body("message__text"))
    duplicated["entry"].append(duplicated["entry"][0])
    assert phone_number_ids(duplicated) == [NUMBER_ID]


def test_other_fields_are_ignored():
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000001",
                "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    {"field": "some_future_field", "value": {"x": 1}},
                ],
            }
        ],
    }
    assert webhooks.parse(json.dumps(payload).encode()) == []


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"object": "page", "entry": []}', "expected 'whatsapp_business_account'"),
        (b'{"object": "whatsapp_business_account"}', "entry is missing or not a list"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "entry is missing or not a list"),
        (b'{"object": "whatsapp_business_account", "entry": [1]}', "entry item is not an object"),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]}',
            "change.value is not an object",
        ),
    ],
)
def test_malformed_bodies_raise_value_error(raw, message):
    with pytest.raises(ValueError, match=message):
        webhooks.parse(raw)


def test_message_with_bad_timestamp_raises_value_error():
    payload = json.loads(body("message__text"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
    with pytest.raises(ValueError, match="bad timestamp"):
        webhooks.parse(json.dumps(payload).encode())
