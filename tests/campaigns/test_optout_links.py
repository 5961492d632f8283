"""Opt-out keywords through the whole loop (sandbox → signed webhook → daphne → worker), and short links
that count clicks per recipient before redirecting."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client
from django_tenants.utils import schema_context

from campaigns.audience import audience_count
from campaigns.models import Campaign, Recipient
from campaigns.optout import is_opt_out_keyword
from campaigns.services import campaign_create, campaign_start
from config.celery import app as celery_app
from inbox.models import Contact, Message
from tests.campaigns.conftest import Wired, cleanup, make_channel, make_contacts, wait_for
from tests.campaigns.test_dispatch import VARIABLES, finished


@pytest.mark.parametrize(
    "text, expected",
    [
        ("STOP", True),
        (" stop. ", True),
        ("Unsubscribe", True),
        ("baja", True),
        ("Darse de baja", True),
        ("PARAR", True),
        ("sair", True),
        ("Berhenti", True),
        ("please stop sending me the catalogue, I love it", False),
        ("Where is my order?", False),
        ("", False),
    ],
)
def test_opt_out_keywords_in_four_languages_match_whole_messages_only(text, expected):
    assert is_opt_out_keyword(text) is expected


def test_a_configured_keyword_opts_out_too():
    assert is_opt_out_keyword("Cukup", extra=["CUKUP"]) and not is_opt_out_keyword("Cukup")


@pytest.fixture
def live_wired(committed_db, sandbox, live_server_url, celery_worker_process, settings):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = f"http://{{host}}:{live_server_url.port}"
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"status_delay_ms": 50, "auto_read": True})
    celery_app.conf.task_always_eager = False
    channel = make_channel(sandbox, rate_per_s=50)
    tag = f"t{channel.external_id}"
    yield Wired(channel=channel, sandbox=sandbox, number_id=channel.external_id), tag
    celery_app.conf.task_always_eager = True
    cleanup("alpha", channel, tag)
    from tenants.models import WebhookEvent

    WebhookEvent.objects.filter(channel_id=channel.id).delete()


def test_stop_opts_the_contact_out_confirms_it_and_later_campaigns_skip_them(live_wired):
    box, tag = live_wired
    contacts = make_contacts(3, tag=tag)
    customer = contacts[0].whatsapp_id
    with schema_context("alpha"):
        campaign = campaign_create(
            name="Before STOP",
            channel=box.channel,
            audience={"tags": [tag]},
            template_name="spring_sale",
            template_variables=VARIABLES,
            is_quiet_hours_enabled=False,
        )
        campaign_start(campaign=campaign)
    wait_for(finished(campaign), "the first campaign")
    # Delivered and read statuses come back through the signed webhooks into the funnel.
    from campaigns.selectors import campaign_stats

    def read_back():
        with schema_context("alpha"):
            return campaign_stats(campaign=campaign)["read"] == 3

    wait_for(read_back, "read receipts for the campaign")

    httpx.post(
        f"{box.sandbox.base_url}/_sandbox/customers/{customer}/messages",
        json={"to": box.number_id, "type": "text", "text": "Stop"},
    ).raise_for_status()

    def opted_out():
        with schema_context("alpha"):
            return Contact.objects.get(pk=contacts[0].pk).is_opted_out

    wait_for(opted_out, "the contact to be opted out")
    confirmation = wait_for(
        lambda: [m for m in box.sent() if m["wa_id"] == customer and m["type"] == "text"],
        "the confirmation to reach the customer",
    )
    assert "unsubscribed" in confirmation[0]["text"]
    with schema_context("alpha"):
        stats = campaign_stats(campaign=campaign)
        assert stats["opted_out"] == 1 and stats["replied"] == 1
        assert audience_count(audience={"tags": [tag]}) == 2
        second = campaign_create(
            name="After STOP",
            channel=box.channel,
            audience={"tags": [tag]},
            template_name="spring_sale",
            template_variables=VARIABLES,
            is_quiet_hours_enabled=False,
        )
        campaign_start(campaign=second)
        assert Recipient.objects.filter(campaign=second).count() == 2
    wait_for(finished(second), "the second campaign")
    templates_to_customer = [m for m in box.sent() if m["wa_id"] == customer and m["type"] == "template"]
    assert len(templates_to_customer) == 1  # only the one before STOP


def test_short_links_count_each_recipients_clicks_and_redirect(live_wired):
    box, tag = live_wired
    make_contacts(2, tag=tag)
    with schema_context("alpha"):
        campaign = campaign_create(
            name="Links",
            channel=box.channel,
            audience={"tags": [tag]},
            template_name="spring_sale",
            template_variables=VARIABLES,
            is_quiet_hours_enabled=False,
        )
        campaign_start(campaign=campaign)
    wait_for(finished(campaign), "the campaign")
    sent_texts = [m["text"] for m in box.sent()]
    assert all("/l/" in text and "shop.example.com" not in text for text in sent_texts)
    with schema_context("alpha"):
        first, second = Recipient.objects.filter(campaign=campaign).order_by("id")
        link = Message.objects.get(pk=first.message_id).payload["body_params"][1]
        other = Message.objects.get(pk=second.message_id).payload["body_params"][1]
    assert link != other  # one code per recipient
    path = "/l/" + link.rsplit("/l/", 1)[1]
    client = Client()
    response = client.get(path, HTTP_HOST="alpha.localhost")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'http-equiv="refresh" content="0;url=https://shop.example.com/sale"' in body
    assert "location.replace" in body
    client.get(path, HTTP_HOST="alpha.localhost")
    with schema_context("alpha"):
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.click_count == 2 and first.clicked_at is not None and second.clicked_at is None
        from campaigns.selectors import campaign_stats

        assert campaign_stats(campaign=campaign)["clicked"] == 1
    forged = path[:-1] + ("1" if path.endswith("0") else "0")  # one character of the signature changed
    assert client.get(forged, HTTP_HOST="alpha.localhost").status_code == 404
    assert client.get(path, HTTP_HOST="beta.localhost").status_code == 404  # another company's host
    with schema_context("alpha"):
        assert Campaign.objects.get(pk=campaign.pk).links.get().click_count == 2
