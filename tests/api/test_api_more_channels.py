"""The API's send endpoint takes Twilio SMS/WhatsApp, Messenger and Instagram channels with the same request
shape (sent for real through the SDK / Graph client to the loopback stubs); contacts show every identity and
merging moves them; another company's key sees none of it."""

import httpx
from django_tenants.utils import schema_context

from channels_wa.services import stub_base_url
from inbox.models import Contact, ContactIdentity, Message
from tests.api.conftest import Api, issue_key
from tests.api.test_api_auth import assert_error
from tests.channels_wa.webhooks import (
    PSID,
    TWILIO_CUSTOMER,
    make_messenger_channel,
    make_twilio_channel,
    messenger_body,
    post_twilio,
    post_webhook,
    provider_path,
    twilio_params,
)


def _stub_channels(sandbox, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://{host}:9"
    settings.WHATSAPP_SANDBOX_URL = sandbox.base_url
    with django_capture_on_commit_callbacks(execute=True):
        sms = make_twilio_channel("alpha", api_base_url=stub_base_url("twilio_sms"))
        page = make_messenger_channel("alpha", api_base_url=stub_base_url("meta_messenger"))
    return sms, page


def test_send_endpoint_accepts_sms_and_messenger(api, sandbox, settings, django_capture_on_commit_callbacks):
    sms, page = _stub_channels(sandbox, settings, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/messages", {"channel_id": sms.id, "to": "+15557770001", "text": "Your code is 123456"}
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["segments"] == 1
    fetched = api.get(f"/api/v1/messages/{body['id']}").json()
    assert fetched["status"] == "sent" and fetched["provider_message_id"].startswith("SM")
    sent = httpx.get(f"{sandbox.base_url}/_stubs/sent", params={"provider": "twilio"}).json()["data"]
    assert sent[0]["to"] == "+15557770001" and sent[0]["body"] == "Your code is 123456"

    # Messenger: `to` is the page-scoped id; the customer must have written within 24 hours.
    assert_error(
        api.post("/api/v1/messages", {"channel_id": page.id, "to": PSID, "text": "hi"}), 422, "window_closed"
    )
    httpx.post(
        f"{sandbox.base_url}/_stubs/meta/customers/{PSID}/messages",
        json={"to": page.external_id, "text": "hey"},
    ).raise_for_status()
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost", path=provider_path(page), body=messenger_body("page__message_text")
        )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/messages", {"channel_id": page.id, "to": PSID, "text": "Yes we do!"})
    assert response.status_code == 202, response.content
    with schema_context("alpha"):
        message = Message.objects.get(pk=response.json()["id"])
        assert message.status == "sent" and message.provider_message_id.startswith("m_")
    assert_error(
        api.post("/api/v1/messages", {"channel_id": page.id, "to": "+15551234567", "text": "x"}),
        400,
        "invalid_recipient",
    )
    channels = {c["provider"]: c for c in api.get("/api/v1/channels").json()["results"]}
    assert channels["twilio_sms"]["capabilities"]["has_window"] is False
    assert channels["twilio_sms"]["webhook_url"].endswith(f"/webhooks/twilio/{sms.uuid}/")
    assert channels["meta_messenger"]["capabilities"]["human_agent_window_days"] == 7


def test_contact_identities_and_merge_moves_them(api, alpha, django_capture_on_commit_callbacks):
    sms = make_twilio_channel("alpha")
    page = make_messenger_channel("alpha")
    with django_capture_on_commit_callbacks(execute=True):
        post_twilio(
            host="alpha.localhost", path=provider_path(sms), params=twilio_params("message__sms_text")
        )
        post_webhook(
            host="alpha.localhost", path=provider_path(page), body=messenger_body("page__message_text")
        )
    with schema_context("alpha"):
        by_phone = Contact.objects.get(phone=TWILIO_CUSTOMER)
        by_psid = ContactIdentity.objects.get(kind="messenger").contact
    assert by_phone.id != by_psid.id
    response = api.post(f"/api/v1/contacts/{by_psid.id}/merge", {"into": by_phone.id})
    assert response.status_code == 200, response.content
    merged = api.get(f"/api/v1/contacts/{by_phone.id}").json()
    assert sorted((i["kind"], i["value"]) for i in merged["identities"]) == [
        ("messenger", PSID),
        ("sms", TWILIO_CUSTOMER),
    ]
    # The customer writes again on Messenger: it lands on the merged contact.
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost",
            path=provider_path(page),
            body=messenger_body("page__message_text", replace={"m_text_0001": "m_text_0002"}),
        )
    with schema_context("alpha"):
        assert Contact.objects.count() == 1
        assert Message.objects.filter(conversation__contact_id=by_phone.id).count() == 3


def test_another_companys_key_sees_no_identity(alpha, beta, django_capture_on_commit_callbacks):
    page = make_messenger_channel("alpha")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost", path=provider_path(page), body=messenger_body("page__message_text")
        )
    beta_api = Api("beta.localhost", issue_key("beta").plaintext)
    assert beta_api.get("/api/v1/contacts").json()["results"] == []
    refused = beta_api.post("/api/v1/messages", {"channel_id": page.id, "to": PSID, "text": "x"})
    assert_error(refused, 400, "unknown_channel")
    with schema_context("alpha"):
        assert Message.objects.count() == 1


def test_merging_keeps_the_whatsapp_id_of_a_contact_from_before_identities(api, alpha):
    from inbox.services import contact_upsert_whatsapp

    with schema_context("alpha"):
        target = Contact.objects.create(phone="+15550001000", whatsapp_id="15550001000")
        source = Contact.objects.create(phone="+15550002000", whatsapp_id="15550002000")
    assert api.post(f"/api/v1/contacts/{source.id}/merge", {"into": target.id}).status_code == 200
    with schema_context("alpha"):
        again = contact_upsert_whatsapp(whatsapp_id="15550002000", phone="+15550002000")
        assert again.id == target.id and Contact.objects.count() == 1
