"""Messenger and Instagram: every messaging[] event through the channel URL and the platform URL (routed by
`object` and page / Instagram id), echoes stored once, watermark statuses, the 24-hour / 7-day window."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from channels_wa.providers.base import OutboundMessage
from channels_wa.providers.meta_messenger.provider import build_send_payload
from core.errors import BusinessRuleViolation, ValidationFailed
from inbox.models import Contact, ContactIdentity, Conversation, Message
from inbox.services import message_send, message_send_to_phone
from tenants.models import WebhookEvent
from tests.channels_wa.webhooks import (
    IGSID,
    INSTAGRAM_ID,
    PAGE_ID,
    PSID,
    make_messenger_channel,
    messenger_body,
    post_webhook,
    provider_path,
)
from tests.helpers import capture_realtime_events

PAGE_KINDS = {
    "page__message_text": ("text", "Hi! Do you ship to Canada?"),
    "page__message_reply": ("text", "this one"),
    "page__message_image": ("image", ""),
    "page__message_file": ("document", ""),
    "page__message_location": ("location", ""),
    "page__message_quick_reply": ("button", "Red"),
    "page__message_sticker": ("image", ""),
    "page__postback": ("button", "Get Started"),
    "page__reaction_react": ("reaction", "\u2764\ufe0f"),
    "page__reaction_unreact": ("reaction", ""),
}
INSTAGRAM_KINDS = {
    "instagram__message_text": ("text", "Love this! Price?"),
    "instagram__story_reply": ("text", "Where is this?"),
    "instagram__story_mention": ("image", "Story mention"),
    "instagram__reaction": ("reaction", "\u2764\ufe0f"),
    "instagram__postback": ("button", "Track my order"),
}


@pytest.fixture
def page(alpha):
    return make_messenger_channel("alpha")


@pytest.fixture
def instagram(alpha):
    return make_messenger_channel("alpha", provider="meta_instagram")


def deliver(channel, name, *, host="alpha.localhost", path=None, **kwargs):
    return post_webhook(host=host, path=path or provider_path(channel), body=messenger_body(name, **kwargs))


@pytest.mark.parametrize(
    "provider,name",
    [("meta_messenger", n) for n in PAGE_KINDS] + [("meta_instagram", n) for n in INSTAGRAM_KINDS],
)
def test_every_inbound_event_is_stored_once(alpha, provider, name, django_capture_on_commit_callbacks):
    channel = make_messenger_channel("alpha", provider=provider)
    with capture_realtime_events() as sent, django_capture_on_commit_callbacks(execute=True):
        body = messenger_body(name)
        response = post_webhook(host="alpha.localhost", path=provider_path(channel), body=body)
        # Meta redelivers the same event in a new envelope: other bytes, same message.
        again = post_webhook(
            host="alpha.localhost", path=provider_path(channel), body=body.replace(b'"time"', b'"time_again"')
        )
    assert response.status_code == 200 and again.status_code == 200
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    kind, body = (PAGE_KINDS | INSTAGRAM_KINDS)[name]
    with schema_context("alpha"):
        message = Message.objects.get()
        assert (message.kind, message.body, message.direction) == (kind, body, "inbound")
        identity = ContactIdentity.objects.get()
        expected = (
            ("instagram", INSTAGRAM_ID, IGSID)
            if provider == "meta_instagram"
            else ("messenger", PAGE_ID, PSID)
        )
        assert (identity.kind, identity.scope, identity.value) == expected
        assert message.conversation.window_expires_at > timezone.now() + timedelta(hours=23)
    assert [event for event, _, _ in sent][:2] == ["message.created", "conversation.created"]


def test_fields_of_story_replies_replies_and_locations(page, instagram, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(instagram, "instagram__story_reply")
        deliver(instagram, "instagram__story_mention")
        deliver(page, "page__message_reply")
        deliver(page, "page__message_location")
        deliver(page, "page__reaction_react")
    with schema_context("alpha"):
        story_reply, mention, reply, location, reaction = Message.objects.order_by("id")
        assert story_reply.payload["story_reply"]["id"] == "17900000000000001"
        assert mention.media_provider_id.endswith("/cdn/mention.jpg")
        assert reply.reply_to_provider_id == "m_earlier_0001"
        assert location.payload["location"]["latitude"] == 48.8584
        assert reaction.payload["reaction_to"] == "m_text_0001"


def test_echo_from_elsewhere_is_outbound_once(page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__message_echo")
        deliver(page, "page__message_echo", replace={'"time"': '"time_again"'})
    with schema_context("alpha"):
        echo = Message.objects.get()
        assert echo.direction == "outbound" and echo.sender_kind == "external" and echo.status == "sent"
        assert echo.body == "Sent from the Page inbox"
        assert echo.conversation.contact.identities.get().value == PSID
        assert echo.conversation.unread_count == 0 and echo.conversation.window_expires_at is None


def test_instagram_echo_from_the_app_is_outbound(instagram, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(instagram, "instagram__message_echo")
    with schema_context("alpha"):
        echo = Message.objects.get()
        assert (echo.direction, echo.sender_kind, echo.body) == (
            "outbound",
            "external",
            "Sent from the Instagram app",
        )
        assert echo.conversation.contact.identities.get().value == IGSID


def test_echo_of_our_own_send_changes_nothing(page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__message_text")
    with schema_context("alpha"):
        conversation = Conversation.objects.get()
        ours = message_send(conversation=conversation, text="Our reply")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__message_echo_own_send", replace={"OWN_MESSAGE_ID": str(ours.id)})
    with schema_context("alpha"):
        assert Message.objects.filter(direction="outbound").count() == 1


def _sent(channel, mid: str, *, sent_ago_s: float = 60) -> Message:
    with schema_context("alpha"):
        contact = Contact.objects.create(profile_name="Pat")
        ContactIdentity.objects.create(
            contact=contact, kind="messenger", scope=channel.external_id, value=PSID
        )
        conversation = Conversation.objects.create(contact=contact, channel=channel)
        return Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction="outbound",
            kind="text",
            body="hello",
            status="sent",
            sender_kind="user",
            provider_message_id=mid,
            sent_at=timezone.now() - timedelta(seconds=sent_ago_s),
        )


def test_delivery_by_mid_and_read_by_watermark(page, django_capture_on_commit_callbacks):
    message = _sent(page, "m_sent_0001")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__read")  # read arrives before delivered
        deliver(page, "page__delivery")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "read" and message.read_at and message.delivered_at


def test_read_watermark_only_covers_earlier_messages(page, django_capture_on_commit_callbacks):
    message = _sent(page, "m_sent_0001")
    with schema_context("alpha"):
        newer = Message.objects.create(
            conversation=message.conversation,
            channel=page,
            direction="outbound",
            kind="text",
            body="after the watermark",
            status="sent",
            sender_kind="user",
            provider_message_id="m_sent_0002",
            sent_at=timezone.now() + timedelta(minutes=5),
        )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__read")
    with schema_context("alpha"):
        message.refresh_from_db()
        newer.refresh_from_db()
        assert message.status == "read" and newer.status == "sent"


def test_instagram_read_names_the_message(instagram, django_capture_on_commit_callbacks):
    with schema_context("alpha"):
        contact = Contact.objects.create()
        conversation = Conversation.objects.create(contact=contact, channel=instagram)
        message = Message.objects.create(
            conversation=conversation,
            channel=instagram,
            direction="outbound",
            status="sent",
            sender_kind="user",
            provider_message_id="aWdfsent0001",
            sent_at=timezone.now(),
        )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(instagram, "instagram__read")
    with schema_context("alpha"):
        message.refresh_from_db()
        assert message.status == "read"


def test_unknown_events_are_ignored_and_broken_payloads_marked(page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__optin_ignored")
        post_webhook(host="alpha.localhost", path=provider_path(page), body=b'{"object": "page", "entry": 5}')
    statuses = dict(WebhookEvent.objects.values_list("body", "status"))
    assert sorted(statuses.values()) == ["failed", "processed"]
    with schema_context("alpha"):
        assert not Message.objects.exists()


def test_bad_signature_refused(page):
    body = messenger_body("page__message_text")
    response = post_webhook(host="alpha.localhost", path=provider_path(page), body=body, secret="wrong")
    assert response.status_code == 401 and not WebhookEvent.objects.exists()


def test_window_24_hours_then_7_days_with_the_human_agent_tag(page, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(page, "page__message_text")
    with schema_context("alpha"):
        conversation = Conversation.objects.get()
        assert message_send(conversation=conversation, text="within 24 h").payload.get("tag") is None
        conversation.last_inbound_at = timezone.now() - timedelta(days=2)
        conversation.window_expires_at = conversation.last_inbound_at + timedelta(hours=24)
        conversation.save()
        with pytest.raises(BusinessRuleViolation) as refused:
            message_send(conversation=conversation, text="two days later")
        assert refused.value.code == "window_closed" and "human-agent" in refused.value.message
        with pytest.raises(ValidationFailed) as no_templates:
            message_send(conversation=conversation, kind="template", payload={"name": "x", "language": "en"})
        assert no_templates.value.code == "templates_not_supported"
        page.human_agent_tag_enabled = True
        page.save()
        conversation.refresh_from_db()
        tagged = message_send(conversation=conversation, text="human agent follow-up")
        assert tagged.payload["tag"] == "HUMAN_AGENT"
        conversation.last_inbound_at = timezone.now() - timedelta(days=8)
        conversation.save()
        with pytest.raises(BusinessRuleViolation):
            message_send(conversation=conversation, text="eight days later")


def test_send_payload_shapes():
    plain = build_send_payload(
        OutboundMessage(to=PSID, kind="text", text="hi", client_ref="42"), is_instagram=False
    )
    assert plain == {
        "recipient": {"id": PSID},
        "message": {"text": "hi", "metadata": "42"},
        "messaging_type": "RESPONSE",
    }
    tagged = build_send_payload(
        OutboundMessage(to=PSID, kind="text", text="hi", tag="HUMAN_AGENT"), is_instagram=False
    )
    assert tagged["messaging_type"] == "MESSAGE_TAG" and tagged["tag"] == "HUMAN_AGENT"
    from channels_wa.providers.base import MediaRef

    image = build_send_payload(
        OutboundMessage(to=IGSID, kind="image", media=MediaRef(link="https://x.test/a.png")),
        is_instagram=True,
    )
    assert image["message"]["attachment"] == {
        "type": "image",
        "payload": {"url": "https://x.test/a.png", "is_reusable": True},
    }


def test_api_style_send_needs_a_scoped_id(page):
    with schema_context("alpha"), pytest.raises(ValidationFailed) as refused:
        message_send_to_phone(channel=page, phone="+15551234567", text="hi")
    assert refused.value.code == "invalid_recipient"
    with schema_context("alpha"), pytest.raises(BusinessRuleViolation):
        message_send_to_phone(channel=page, phone=PSID, text="never wrote to us")
    with schema_context("alpha"):
        assert not Contact.objects.exists(), "a refused send leaves no contact behind"


# The platform URL: one Meta app for every company; `object` picks the product, the id picks the company.


def test_platform_url_routes_page_and_instagram_by_id(alpha, beta, django_capture_on_commit_callbacks):
    alpha_page = make_messenger_channel("alpha")
    beta_instagram = make_messenger_channel("beta", provider="meta_instagram")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_webhook(
            host="localhost", path="/webhooks/meta/", body=messenger_body("page__message_text")
        )
        second = post_webhook(
            host="localhost", path="/webhooks/meta/", body=messenger_body("instagram__message_text")
        )
    assert first.status_code == 200 and second.status_code == 200
    assert sorted(WebhookEvent.objects.values_list("provider", flat=True)) == [
        "meta_instagram",
        "meta_messenger",
    ]
    with schema_context("alpha"):
        assert Message.objects.get().channel_id == alpha_page.id
        assert not ContactIdentity.objects.filter(kind="instagram").exists()
    with schema_context("beta"):
        assert Message.objects.get().channel_id == beta_instagram.id
        assert not ContactIdentity.objects.filter(kind="messenger").exists()


def test_platform_url_refuses_another_companys_secret(alpha, beta):
    make_messenger_channel("alpha")
    make_messenger_channel("beta", provider="meta_instagram", app_secret="beta-secret")
    body = messenger_body("page__message_text")
    response = post_webhook(host="localhost", path="/webhooks/meta/", body=body, secret="beta-secret")
    assert response.status_code == 401 and not WebhookEvent.objects.exists()


def test_platform_url_unknown_page_is_unrouted(alpha, settings, django_capture_on_commit_callbacks):
    settings.META_APP_SECRET = "platform-secret"
    body = messenger_body("page__message_text", replace={PAGE_ID: "999999999999999"})
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(host="localhost", path="/webhooks/meta/", body=body, secret="platform-secret")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "unrouted"


def test_channel_url_of_another_company_is_not_found(page, beta):
    response = deliver(page, "page__message_text", host="beta.localhost")
    assert response.status_code == 404
