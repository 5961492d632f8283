"""Twilio WhatsApp and SMS: signed form webhooks (behind a proxy too), every inbound kind, status callbacks
(duplicates, out of order, errors, 21610 opt-outs), the window per channel and segment counts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from channels_wa.providers.twilio.provider import sms_segments
from core.errors import BusinessRuleViolation
from inbox.models import Contact, ContactIdentity, Conversation, Message
from inbox.services import message_send, message_send_to_phone
from tenants.models import WebhookEvent
from tests.channels_wa.webhooks import (
    TWILIO_CUSTOMER,
    make_twilio_channel,
    post_twilio,
    provider_path,
    twilio_params,
)
from tests.helpers import capture_realtime_events

SMS_KINDS = {
    "message__sms_text": ["text"],
    "message__sms_mms_image": ["image"],
    "message__sms_two_media": ["image", "document"],
}
WHATSAPP_KINDS = {
    "message__whatsapp_text": ["text"],
    "message__whatsapp_image": ["image"],
    "message__whatsapp_location": ["location"],
    "message__whatsapp_button": ["button"],
}


@pytest.fixture
def sms(alpha):
    return make_twilio_channel("alpha", provider="twilio_sms")


@pytest.fixture
def whatsapp(alpha):
    return make_twilio_channel("alpha", provider="twilio_whatsapp")


def deliver(channel, name, *, host="alpha.localhost", **kwargs):
    return post_twilio(host=host, path=provider_path(channel), params=twilio_params(name), **kwargs)


@pytest.mark.parametrize(
    "provider,name", [("twilio_sms", n) for n in SMS_KINDS] + [("twilio_whatsapp", n) for n in WHATSAPP_KINDS]
)
def test_every_inbound_kind_is_stored_once(alpha, provider, name, django_capture_on_commit_callbacks):
    channel = make_twilio_channel("alpha", provider=provider)
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        response = deliver(channel, name)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert b"<Response></Response>" in response.content
    assert WebhookEvent.objects.get().status == "processed"
    with schema_context("alpha"):
        messages = list(Message.objects.order_by("id"))
        assert [m.kind for m in messages] == (SMS_KINDS | WHATSAPP_KINDS)[name]
        assert all(m.direction == "inbound" and m.raw for m in messages)
        contact = Contact.objects.get()
        assert contact.phone == TWILIO_CUSTOMER
        kind = "whatsapp" if provider == "twilio_whatsapp" else "sms"
        assert list(contact.identities.values_list("kind", "value")) == [
            (kind, TWILIO_CUSTOMER.lstrip("+") if kind == "whatsapp" else TWILIO_CUSTOMER)
        ]
        for message in messages:
            if message.media_provider_id:  # fetched with the account's credentials; the closed port fails
                assert message.media_provider_id.startswith("MM") and message.media_error.startswith(
                    "network"
                )
    assert "message.created" in [event for event, _, _ in sent]


def test_whatsapp_fields(whatsapp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(whatsapp, "message__whatsapp_location")
        deliver(whatsapp, "message__whatsapp_button")
    with schema_context("alpha"):
        location, button = Message.objects.order_by("id")
        assert location.payload["location"]["latitude"] == 37.7749
        assert button.body == "Yes please" and button.payload["reply_id"] == "confirm_order"
        assert Contact.objects.get().profile_name == "Carla Customer"
        assert Conversation.objects.get().window_expires_at > timezone.now() + timedelta(hours=23)


def test_signature_valid_invalid_and_behind_a_proxy(sms, django_capture_on_commit_callbacks):
    params = twilio_params("message__sms_text")
    path = provider_path(sms)
    refused = post_twilio(host="alpha.localhost", path=path, params=params, signature_header="bm90IGl0")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_signature"
    wrong_token = post_twilio(host="alpha.localhost", path=path, params=params, auth_token="another-token")
    assert wrong_token.status_code == 401
    # Twilio called https://hooks.example.com/...; the proxy forwarded to us over plain HTTP.
    internal = post_twilio(
        host="alpha.localhost",
        path=path,
        params=params,
        signed_url=f"http://alpha.localhost{path}",
        forwarded=("https", "hooks.example.com"),
    )
    assert internal.status_code == 401, "signed over another URL than the one Twilio called"
    assert not WebhookEvent.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        proxied = post_twilio(
            host="alpha.localhost", path=path, params=params, forwarded=("https", "hooks.example.com")
        )
    assert proxied.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(sms, "message__sms_text").status_code == 200  # a redelivery: same bytes
    assert WebhookEvent.objects.count() == 1
    with schema_context("alpha"):
        assert Message.objects.count() == 1


def _sent_message(channel, sid="SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") -> Message:
    with schema_context("alpha"):
        contact = Contact.objects.create(phone=TWILIO_CUSTOMER, whatsapp_id=TWILIO_CUSTOMER.lstrip("+"))
        conversation = Conversation.objects.create(contact=contact, channel=channel)
        return Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction="outbound",
            kind="text",
            body="Your order shipped",
            status="sent",
            sender_kind="user",
            provider_message_id=sid,
            sent_at=timezone.now(),
        )


def test_statuses_out_of_order_duplicates_and_errors(sms, django_capture_on_commit_callbacks):
    message = _sent_message(sms)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "status__queued")
        deliver(sms, "status__delivered")
        deliver(sms, "status__sent")  # late: must not move the message back
        deliver(sms, "status__delivered")  # duplicate delivery
        deliver(sms, "status__undelivered")  # after delivered: ignored, never backwards
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "delivered" and message.delivered_at and not message.error_code
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_undelivered_keeps_twilio_error_code(sms, django_capture_on_commit_callbacks):
    message = _sent_message(sms)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "status__undelivered")
        deliver(sms, "status__delivered")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "failed" and message.error_code == "30003"
        assert message.error_title == "Unreachable destination handset"


def test_21610_marks_the_contact_opted_out(sms, django_capture_on_commit_callbacks):
    message = _sent_message(sms)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "status__failed_opted_out")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "failed" and message.error_code == "21610"
        assert message.conversation.contact.is_opted_out is True


def test_stop_keyword_opts_out_and_start_opts_back_in(sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "message__sms_stop")
    with schema_context("alpha"):
        assert Contact.objects.get().is_opted_out is True
        # Twilio answered STOP itself (and refuses further sends): no confirmation of ours goes out.
        assert not Message.objects.filter(direction="outbound").exists()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "message__sms_start")
    with schema_context("alpha"):
        assert Contact.objects.get().is_opted_out is False
        assert Message.objects.count() == 2


def test_whatsapp_read_status(whatsapp, django_capture_on_commit_callbacks):
    message = _sent_message(whatsapp)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(whatsapp, "status__whatsapp_read")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "read" and message.read_at


def test_same_phone_on_whatsapp_and_sms_is_one_contact(alpha, django_capture_on_commit_callbacks):
    sms = make_twilio_channel("alpha", provider="twilio_sms")
    whatsapp = make_twilio_channel("alpha", provider="twilio_whatsapp", external_id="+15550008888")
    replace = {"+15550009999": "+15550008888"}
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sms, "message__sms_text")
        post_twilio(
            host="alpha.localhost",
            path=provider_path(whatsapp),
            params=twilio_params("message__whatsapp_text", replace=replace),
        )
    with schema_context("alpha"):
        contact = Contact.objects.get()
        assert sorted(contact.identities.values_list("kind", flat=True)) == ["sms", "whatsapp"]
        assert Conversation.objects.filter(contact=contact).count() == 2


def test_window_rules_per_twilio_channel(sms, whatsapp):
    with schema_context("alpha"):
        # SMS has no window: a first message to a new number goes, with its segment count.
        long_text = "x" * 200
        message = message_send_to_phone(channel=sms, phone=TWILIO_CUSTOMER, text=long_text)
        assert message.payload["segments"] == 2 and message.status == "queued"
        # WhatsApp over Twilio: free text needs the 24-hour window; a Content API template goes anyway.
        with pytest.raises(BusinessRuleViolation) as refused:
            message_send_to_phone(channel=whatsapp, phone=TWILIO_CUSTOMER, text="hello")
        assert refused.value.code == "window_closed"
        template = message_send_to_phone(
            channel=whatsapp,
            phone=TWILIO_CUSTOMER,
            kind="template",
            payload={"name": "HX0123456789abcdef0123456789abcdef", "body_params": ["Carla"]},
        )
        assert template.status == "queued"
        conversation = template.conversation
        conversation.window_expires_at = timezone.now() + timedelta(hours=1)
        conversation.save()
        assert message_send(conversation=conversation, text="inside the window").status == "queued"
        assert ContactIdentity.objects.filter(kind="sms").count() == 1


def test_segment_counting():
    assert sms_segments("") == 0
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extended GSM-7: two septets
    assert sms_segments("é" * 160) == 1
    assert sms_segments("日" * 70) == 1 and sms_segments("日" * 71) == 2  # UCS-2


def test_other_company_cannot_use_the_channel_url(sms, beta):
    response = deliver(sms, "message__sms_text", host="beta.localhost")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


def test_whatsapp_outside_the_window_fails_with_63016(whatsapp, django_capture_on_commit_callbacks):
    message = _sent_message(whatsapp)
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        deliver(whatsapp, "status__whatsapp_failed_window")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "failed" and message.error_code == "63016"
        assert "template" in message.error_title
        assert message.conversation.contact.is_opted_out is False
    assert [event for event, _, _ in sent] == ["message.updated"]
