"""Connecting a Twilio, Messenger or Instagram channel in the company admin shows its webhook URL and what to
paste where; the channel list shows each channel's kind."""

import pytest
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from tests.helpers import host_client, login

FORMS = {
    "twilio_sms": {
        "external_id": "+15550004242",
        "phone_number": "+15550004242",
        "account_id": "AC" + "1" * 32,
    },
    "twilio_whatsapp": {
        "external_id": "+15550004243",
        "phone_number": "+15550004243",
        "account_id": "AC" + "1" * 32,
    },
    "meta_messenger": {"external_id": "130000000000042", "phone_number": "", "account_id": ""},
    "meta_instagram": {"external_id": "17841400000004242", "phone_number": "", "account_id": ""},
}
EXPECTED = {
    "twilio_sms": ("/webhooks/twilio/", "A message comes in"),
    "twilio_whatsapp": ("/webhooks/twilio/", "Content API template"),
    "meta_messenger": ("/webhooks/messenger/", "message_echoes"),
    "meta_instagram": ("/webhooks/messenger/", "messaging_seen"),
}


@pytest.mark.parametrize("provider", sorted(FORMS))
def test_adding_a_channel_shows_what_to_paste_where(alpha, provider):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    form = {
        "provider": provider,
        "name": f"New {provider}",
        "access_token": "t0k3n-xyz",
        "app_secret": "s3cr3t-xyz",
        "verify_token": "",
        "api_base_url": "",
        "api_version": "",
        "rate_per_s": 10,
        "default_department": "",
        "human_agent_tag_enabled": "on" if provider == "meta_messenger" else "",
        **FORMS[provider],
    }
    response = client.post("/admin/channels_wa/channel/add/", form, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    path, hint = EXPECTED[provider]
    with schema_context("alpha"):
        channel = Channel.objects.get(provider=provider)
    assert f"{path}{channel.uuid}/" in page and hint in page
    assert channel.human_agent_tag_enabled is (provider == "meta_messenger")
    assert f"od-channel--{provider}" in page, "the list shows the channel's kind"
    detail = client.get(f"/admin/channels_wa/channel/{channel.pk}/change/").content.decode()
    assert f"{path}{channel.uuid}/" in detail
    assert ("/webhooks/meta/" in detail) is provider.startswith("meta_"), (
        "Meta channels offer the platform URL"
    )
    assert "s3cr3t-xyz" not in detail and "t0k3n-xyz" not in detail


def test_contact_panel_lists_identities_and_conversations_show_the_channel_kind(
    alpha, django_capture_on_commit_callbacks
):
    from inbox.models import Contact
    from tests.channels_wa.webhooks import (
        PSID,
        make_messenger_channel,
        messenger_body,
        post_webhook,
        provider_path,
    )

    page = make_messenger_channel("alpha")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(
            host="alpha.localhost", path=provider_path(page), body=messenger_body("page__message_text")
        )
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    with schema_context("alpha"):
        contact = Contact.objects.get()
    panel = client.get(f"/admin/inbox/contact/{contact.pk}/change/").content.decode()
    assert "Messenger page-scoped id" in panel and PSID in panel
    listing = client.get("/admin/inbox/conversation/").content.decode()
    assert "od-channel--meta_messenger" in listing
