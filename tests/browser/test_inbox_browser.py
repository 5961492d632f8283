"""The inbox in real browsers against real parts: the WhatsApp sandbox (signed webhooks), daphne (HTTP and
/ws/), a Celery worker, PostgreSQL and Redis. Screenshots of the main screens go to ARTIFACTS_DIR."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from accounts.models import User
from channels_wa.services import channel_create, channel_delete, template_sync
from config.celery import app as celery_app
from inbox.models import Contact, Conversation
from tenants.models import WebhookEvent
from tests.browser.conftest import CHROMIUM, off_loop
from tests.helpers import PASSWORD, unique

ARTIFACTS = (
    Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "artifacts")) / "screenshots"
)
NUMBER_ID = "300000000000044"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.fixture
def inbox_setup(committed_db, live_server_url, celery_worker_process, sandbox, settings):
    """A sandbox channel in alpha wired to the live server, a second agent, and clean-up of it all."""
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = f"http://{{host}}:{live_server_url.port}"
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"status_delay_ms": 50, "auto_read": False})
    started = timezone.now()
    celery_app.conf.task_always_eager = False
    with schema_context("alpha"):
        channel = channel_create(
            provider="sandbox",
            name="Shop WhatsApp",
            external_id=NUMBER_ID,
            phone_number="+15550004444",
            account_id="waba-browser",
            access_token="browser-token",
            app_secret="browser-secret",
            api_base_url=sandbox.base_url,
        )
        agent = User.objects.create_user(
            unique("bea") + "@alpha.test", PASSWORD, name="Bea Agent", role="agent"
        )
    customers: list[str] = []
    yield {
        "channel": channel,
        "agent": agent,
        "sandbox": sandbox,
        "base": live_server_url.url("alpha.localhost"),
        "customers": customers,
    }
    celery_app.conf.task_always_eager = True
    with schema_context("alpha"):
        channel_delete(channel=channel)
        Contact.objects.filter(whatsapp_id__in=customers).delete()
        agent.delete()
    WebhookEvent.objects.filter(received_at__gte=started).delete()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield launched
        launched.close()


def signed_in(browser, base: str, email: str, width: int = 1280, height: int = 800):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
    return page


def customer_writes(setup, digits: str, text: str, name: str = "Carla") -> None:
    setup["customers"].append(digits)
    httpx.post(
        f"{setup['sandbox'].base_url}/_sandbox/customers/{digits}/messages",
        json={"to": NUMBER_ID, "type": "text", "text": text, "profile_name": name},
    ).raise_for_status()


def test_live_inbox_reply_ticks_and_another_agents_view(inbox_setup, browser):
    setup = inbox_setup
    owner = signed_in(browser, setup["base"], "owner@alpha.test")
    bea = signed_in(browser, setup["base"], setup["agent"].email)
    expect(owner.get_by_role("link", name=re.compile("Mine"))).to_be_visible()

    # A customer writes: the conversation appears in both inboxes without a reload.
    customer = "15557650001"
    sent_at = time.monotonic()
    customer_writes(setup, customer, "Hello, has my order shipped?")
    row = owner.locator(".conversation-row", has_text="Hello, has my order shipped?")
    expect(row).to_be_visible(timeout=10_000)
    live_latency_s = time.monotonic() - sent_at
    expect(bea.locator(".conversation-row", has_text="Hello, has my order shipped?")).to_be_visible(
        timeout=5_000
    )
    assert live_latency_s < 2.0, f"the message took {live_latency_s:.2f} s to appear"
    expect(row.locator(".badge")).to_have_text("1")
    shot(owner, "inbox-new-message")

    # The owner opens it and replies; the reply reaches the customer's phone and its tick turns read.
    row.click()
    expect(owner.locator("#thread")).to_contain_text("Hello, has my order shipped?")
    expect(row.locator(".badge")).to_have_count(0, timeout=5_000)
    owner.locator("#composer-text").fill("Yes, it ships today!")
    owner.keyboard.press("Control+Enter")
    reply = owner.locator(".message.outbound", has_text="Yes, it ships today!")
    expect(reply).to_be_visible(timeout=5_000)
    expect(reply.locator("[data-role=tick]")).to_have_text("✓✓", timeout=10_000)

    def on_phone():
        thread = httpx.get(
            f"{setup['sandbox'].base_url}/_sandbox/customers/{customer}/thread", params={"number": NUMBER_ID}
        ).json()
        return [m for m in thread if "Yes, it ships today!" in str(m)]

    assert on_phone()
    httpx.post(f"{setup['sandbox'].base_url}/_sandbox/customers/{customer}/read", json={"number": NUMBER_ID})
    expect(reply.locator(".tick-read")).to_be_visible(timeout=5_000)

    # A second message in the open thread appears live too.
    customer_writes(setup, customer, "Great, thanks!")
    expect(owner.locator("#thread")).to_contain_text("Great, thanks!", timeout=5_000)
    shot(owner, "inbox-thread")

    # Bea sees the assignment and the resolution the owner makes, live.
    bea.locator(".conversation-row", has_text="Great, thanks!").click()
    expect(bea.locator("[data-role=assignee]")).to_have_text("unassigned")
    owner.get_by_role("button", name="Assign to me").click()
    expect(bea.locator("[data-role=assignee]")).to_contain_text("@Alpha Ltd Owner", timeout=5_000)
    expect(bea.locator(".conversation-row", has_text="Great, thanks!")).to_contain_text("@Alpha Ltd Owner")
    owner.get_by_role("button", name="Resolve").click()
    expect(bea.locator("[data-role=status]")).to_have_text("Resolved", timeout=5_000)
    # The open list no longer holds it in either browser.
    expect(bea.locator(".conversation-row", has_text="Great, thanks!")).to_have_count(0, timeout=5_000)
    expect(owner.get_by_role("button", name="Reopen")).to_be_visible()
    shot(bea, "inbox-resolved-by-another-agent")


def test_template_picker_is_the_only_way_out_of_a_closed_window(inbox_setup, browser):
    setup = inbox_setup
    customer = "15557650002"
    customer_writes(setup, customer, "Any news?", name="Tom")

    def stored():
        with schema_context("alpha"):
            conversation = Conversation.objects.filter(contact__whatsapp_id=customer).first()
            if conversation is None:
                return None
            # A day passes without the customer writing.
            Conversation.objects.filter(pk=conversation.pk).update(
                window_expires_at=timezone.now() - timedelta(hours=1)
            )
            template_sync(channel=setup["channel"])
            return conversation

    conversation = None
    for _ in range(50):
        conversation = off_loop(stored)
        if conversation:
            break
        time.sleep(0.2)
    assert conversation is not None
    httpx.post(
        f"{setup['sandbox'].base_url}/_sandbox/customers/{customer}/age_window",
        json={"number": NUMBER_ID, "hours": 25},
    )

    page = signed_in(browser, setup["base"], "owner@alpha.test")
    page.goto(f"{setup['base']}/?c={conversation.id}")
    expect(page.locator("#window-note")).to_be_visible()
    expect(page.locator("#composer-text")).to_be_disabled()
    expect(page.locator("#send-button")).to_be_disabled()
    expect(page.locator(f'.conversation-row[data-id="{conversation.id}"] .window-closed')).to_be_visible()

    page.get_by_role("button", name="Template…").click()
    page.locator("#template-select").select_option(label="order_update (en)")
    page.get_by_label("Body variable {{1}}").fill("Tom")
    page.get_by_label("Body variable {{2}}").fill("#1042")
    expect(page.locator("#template-preview")).to_have_text("Hi Tom, your order #1042 has shipped.")
    shot(page, "inbox-template-picker")
    page.get_by_role("button", name="Send template").click()
    sent = page.locator(".message.outbound", has_text="Hi Tom, your order #1042 has shipped.")
    expect(sent).to_be_visible(timeout=5_000)
    expect(sent.locator("[data-role=tick]")).to_have_text(re.compile("✓"), timeout=10_000)


def test_a_phone_sized_screen_stacks_the_list_and_the_thread(inbox_setup, browser):
    setup = inbox_setup
    customer_writes(setup, "15557650003", "Small screen hello", name="Pia")
    page = signed_in(browser, setup["base"], "owner@alpha.test", width=390, height=844)
    row = page.locator(".conversation-row", has_text="Small screen hello")
    expect(row).to_be_visible(timeout=10_000)
    expect(page.locator(".sidebar")).to_be_hidden()
    shot(page, "phone-list")
    row.click()
    expect(page.locator("#thread")).to_contain_text("Small screen hello")
    expect(page.locator(".list-column")).to_be_hidden()
    shot(page, "phone-thread")
    page.get_by_role("button", name="Theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    shot(page, "phone-thread-dark")


@pytest.fixture
def contacts_cleanup(committed_db, live_server_url):
    phones: list[str] = []
    yield phones
    with schema_context("alpha"):
        Contact.objects.filter(phone__in=phones).delete()


def test_csv_import_reports_the_bad_row_and_imports_the_rest(
    contacts_cleanup, browser, live_server_url, tmp_path
):
    contacts_cleanup.extend(["+14155550901", "+14155550902"])
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "phone,name,tags\n+1 415 555 0901,Imported Ivy,vip\nnonsense,Bad Row,\n14155550902,Imported Ian,\n"
    )
    page = signed_in(browser, live_server_url.url("alpha.localhost"), "owner@alpha.test")
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#import-preview")
    expect(preview).to_contain_text("1 with errors")
    expect(preview.locator("tr.row-error")).to_contain_text("nonsense")
    shot(page, "contacts-import-preview")
    page.get_by_role("button", name="Import").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("2 created, 0 updated, 1 rows with errors")
    expect(result.locator("td").first).to_have_text("3")
    page.get_by_role("link", name="See the contacts").click()
    page.get_by_label("Search").fill("Imported")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.grid")).to_contain_text("Imported Ivy")
    expect(page.locator("table.grid")).to_contain_text("+14155550902")
    shot(page, "contacts-list")


def test_an_agent_of_another_company_sees_nothing_of_it(inbox_setup, browser, live_server_url):
    setup = inbox_setup
    customer_writes(setup, "15557650004", "Alpha-only secret question", name="Alice")
    alpha_page = signed_in(browser, setup["base"], "owner@alpha.test")
    expect(alpha_page.locator(".conversation-row", has_text="Alpha-only secret question")).to_be_visible(
        timeout=10_000
    )

    beta = signed_in(browser, live_server_url.url("beta.localhost"), "owner@beta.test")
    customer_writes(setup, "15557650004", "Second alpha secret")
    expect(alpha_page.locator("#conversation-list")).to_contain_text("Second alpha secret", timeout=10_000)
    expect(beta.locator("#conversation-list")).not_to_contain_text("secret")
    expect(beta.locator("#list-empty")).to_be_visible()
    conversation_id = alpha_page.locator(".conversation-row").first.get_attribute("data-id")
    response = beta.goto(f"{live_server_url.url('beta.localhost')}/?c={conversation_id}")
    assert response.status == 404
    beta.goto(f"{live_server_url.url('beta.localhost')}/contacts/?q=Alice")
    expect(beta.locator("main")).not_to_contain_text("Alice")


def test_after_the_socket_drops_the_inbox_fetches_what_it_missed(inbox_setup, browser):
    setup = inbox_setup
    customer_writes(setup, "15557650005", "Before the outage", name="Olga")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sockets, state = [], {"deaf": False}

    def relay(ws):
        server = ws.connect_to_server()
        server.on_message(lambda message: None if state["deaf"] else ws.send(message))
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/$"), relay)
    page.goto(f"{setup['base']}/login/")
    page.get_by_label("Email").fill("owner@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
    expect(page.locator(".conversation-row", has_text="Before the outage")).to_be_visible(timeout=10_000)
    page.locator(".conversation-row", has_text="Before the outage").click()
    expect(page.locator("#thread")).to_contain_text("Before the outage")

    # The network loses the events: the page hears nothing of the customer's next message…
    state["deaf"] = True
    customer_writes(setup, "15557650005", "Sent during the outage")
    page.wait_for_timeout(2_000)
    expect(page.locator("#thread")).not_to_contain_text("Sent during the outage")
    # …until the socket drops and reconnects: then the list and the open thread catch up.
    state["deaf"] = False
    sockets[0].close(code=1011, reason="network went away")
    expect(page.locator("#thread")).to_contain_text("Sent during the outage", timeout=10_000)
    expect(page.locator(".conversation-row", has_text="Sent during the outage")).to_be_visible()
    assert len(sockets) >= 2
