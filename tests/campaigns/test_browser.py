"""The campaign wizard and live progress in a real browser (headless Chromium against daphne)."""

from __future__ import annotations

import re
import shutil

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from core.realtime import company_group, send_now
from tests.browser.conftest import CHROMIUM, off_loop


def _seed() -> tuple[int, list[int]]:
    from channels_wa.models import Channel, Template
    from inbox.models import Contact

    with schema_context("alpha"):
        channel = Channel.objects.create(
            provider="sandbox", name="Browser shop", external_id="br-camp", rate_per_s=5
        )
        Template.objects.create(
            channel=channel, name="spring_sale", language="en_US", status="APPROVED", variable_count=2
        )
        contacts = Contact.objects.bulk_create(
            [Contact(phone=f"+44770093{i:04d}", name=f"B{i}", tags=["browser-vip"]) for i in range(7)]
        )
        return channel.id, [c.id for c in contacts]


def _cleanup(channel_id: int, contact_ids: list[int]) -> None:
    from campaigns.models import Campaign
    from channels_wa.models import Channel
    from inbox.models import Contact

    with schema_context("alpha"):
        Campaign.objects.filter(channel_id=channel_id).delete()
        Channel.objects.filter(pk=channel_id).delete()
        Contact.objects.filter(pk__in=contact_ids).delete()


def _campaign_id(name: str) -> int:
    from campaigns.models import Campaign

    with schema_context("alpha"):
        return Campaign.objects.get(name=name).id


@pytest.fixture
def browser_page(committed_db, live_server_url):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    seeded = _seed()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()
    _cleanup(*seeded)


def test_wizard_previews_the_audience_then_the_page_follows_live_progress(browser_page, live_server_url):
    page = browser_page
    base = live_server_url.url("alpha.localhost")
    page.goto(f"{base}/login/?next=/campaigns/new/")
    page.get_by_label("Email").fill("owner@alpha.test")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()

    page.get_by_label("Campaign name").fill("Browser sale")
    page.get_by_label("Tags (comma-separated)").fill("browser-vip")
    page.get_by_role("button", name="Preview count").click()
    expect(page.locator("#audience-count")).to_have_text("7 recipient(s)")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Template")).to_be_visible()
    page.locator("input[name=var_key]").first.fill("first_name")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#review-count")).to_have_text("7")
    expect(page.locator("#review-duration")).to_contain_text("(4 msg/s)")  # 5/s less one to spare
    page.get_by_role("button", name="Save as draft").click()

    expect(page.get_by_role("heading", name="Browser sale")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/$"))
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
    campaign_id = off_loop(_campaign_id, "Browser sale")
    progress = {"id": campaign_id, "status": "running", "total": 7, "sent": 3, "queued": 4, "delivered": 2}
    progress.update(read=1, replied=0, failed=0, unknown=0, clicked=1, opted_out=0, stop_reason="")
    off_loop(send_now, "campaign.progress", progress, [company_group("alpha")])
    expect(page.locator("[data-stat=sent]")).to_have_text("3")
    expect(page.locator("[data-stat=clicked]")).to_have_text("1")
    expect(page.locator("#campaign [data-field=status]")).to_have_text("running")
