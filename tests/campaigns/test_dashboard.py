"""The campaigns dashboard: list, wizard with the audience preview, detail with stats and actions, export."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from campaigns.models import Campaign, Recipient
from channels_wa.models import Channel, Template
from inbox.models import Contact
from tests.helpers import host_client, login


@pytest.fixture
def staff(alpha):
    with schema_context("alpha"):
        channel = Channel.objects.create(
            provider="sandbox", name="Shop", external_id="dash-camp", rate_per_s=20
        )
        Template.objects.create(
            channel=channel, name="spring_sale", language="en_US", status="APPROVED", variable_count=2
        )
        Contact.objects.bulk_create(
            [Contact(phone=f"+44770091{i:04d}", name=f"D{i}", tags=["dash"]) for i in range(30)]
        )
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    return client, channel


def wizard_form(channel, **extra) -> dict:
    return {
        "name": "Dashboard sale",
        "channel_id": channel.id,
        "tags": "dash",
        "match": "all",
        "cond_field": [""],
        "cond_op": ["eq"],
        "cond_value": [""],
        "phones": "",
        "kind": "template",
        "template": "spring_sale|en_US",
        "var_source": ["field", "static"],
        "var_key": ["first_name", "https://shop.example.com"],
        "var_fallback": ["there", ""],
        "is_link_tracking": "on",
        "when": "now",
        "is_quiet_hours_enabled": "on",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        **extra,
    }


def test_wizard_previews_the_audience_and_creates_and_starts_a_campaign(staff):
    client, channel = staff
    page = client.get("/campaigns/new/")
    assert page.status_code == 200 and b"spring_sale" in page.content and b"Preview count" in page.content
    csv_file = SimpleUploadedFile("list.csv", b"phone,coupon\n+447700919999,Z1\n+447700910001,Z2\n")
    preview = client.post("/campaigns/preview/", {**wizard_form(channel), "csv_file": csv_file})
    body = preview.json()
    assert body["count"] == 31 and body["csv_rows"] == 2
    assert body["estimated_s"] == 2 and body["rate_per_s"] == 20  # 31 at 20/s (with headroom)

    assert body["pace"] == "19 msg/s"

    created = client.post("/campaigns/new/", {**wizard_form(channel), "submit": "start"})
    assert created.status_code == 302
    with schema_context("alpha"):
        campaign = Campaign.objects.get(name="Dashboard sale")
        assert campaign.status == "running" and campaign.template_variables[0]["key"] == "first_name"
        assert Recipient.objects.filter(campaign=campaign).count() == 30
    detail = client.get(created["Location"])
    html = detail.content.decode()
    assert detail.status_code == 200 and 'data-stat="total">30<' in html and "Funnel" in html
    assert "Pause" in html and "Export CSV" in html

    paused = client.post(f"/campaigns/{campaign.id}/pause/")
    assert paused.status_code == 302
    with schema_context("alpha"):
        assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    duplicated = client.post(f"/campaigns/{campaign.id}/duplicate/")
    with schema_context("alpha"):
        assert Campaign.objects.filter(status="draft", name="Copy of Dashboard sale").exists()
    assert duplicated.status_code == 302
    export = client.get(f"/campaigns/{campaign.id}/recipients.csv")
    assert export.status_code == 200 and len(export.content.decode().strip().splitlines()) == 31
    listing = client.get("/campaigns/")
    assert b"Dashboard sale" in listing.content and b"Copy of Dashboard sale" in listing.content


def test_wizard_shows_what_is_wrong(staff):
    client, channel = staff
    response = client.post("/campaigns/new/", {**wizard_form(channel), "name": "", "submit": "start"})
    assert response.status_code == 400 and b"needs a name" in response.content
    empty = client.post("/campaigns/new/", {**wizard_form(channel), "tags": "nobody", "submit": "start"})
    assert empty.status_code == 400 and b"audience is empty" in empty.content


def test_pages_need_a_signed_in_user_of_this_company(staff, beta):
    client, _ = staff
    with schema_context("alpha"):
        campaign = Campaign.objects.create(
            name="Alpha only", channel=Channel.objects.get(external_id="dash-camp")
        )
    assert host_client("alpha.localhost").get("/campaigns/").status_code == 302  # anonymous → login
    other = host_client(beta.host)
    login(other, beta.host, beta.owner_email)
    assert other.get(f"/campaigns/{campaign.id}/").status_code == 404
    assert b"Alpha only" not in other.get("/campaigns/").content
    assert client.get("/campaigns/", HTTP_HOST=beta.host).status_code == 302  # alpha's session is not beta's


def test_the_wizard_estimates_a_qr_session_campaign_at_its_human_pace(staff):
    from channels_wa.services import channel_create

    client, _ = staff
    with schema_context("alpha"):
        phone = channel_create(provider="qr_session", name="Shop phone", external_id="qr-dash")
    form = {**wizard_form(phone), "kind": "text", "text": "Hi {{first_name}}, the sale is on"}
    body = client.post("/campaigns/preview/", form).json()
    assert body["count"] == 30
    # A gap of 4-10 s plus typing time per message (and quiet hours, the warm-up's daily cap), never
    # 30 / rate_per_s.
    assert body["estimated_s"] >= 30 * 4 and "s a message, as a person would" in body["pace"]
