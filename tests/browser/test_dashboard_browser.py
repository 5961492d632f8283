"""A newcomer's first minute, in a real browser: sign in, see the inbox go live, receive an event."""

import re

from playwright.sync_api import expect

from core.realtime import company_group, send_now
from tests.browser.conftest import off_loop


def test_owner_signs_in_and_sees_live_events(page, live_server_url):
    base = live_server_url.url("alpha.localhost")
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.get_by_label("Email").fill("owner@alpha.test")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect.")

    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Pick a conversation")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
    page.evaluate(
        """window.heard = [];
        document.addEventListener("omnidesk:conversation.updated", (e) => window.heard.push(e.detail.id));"""
    )

    off_loop(send_now, "conversation.updated", {"id": 42, "status": "resolved"}, [company_group("alpha")])
    page.wait_for_function("window.heard.includes(42)")

    # another company's events never show up here
    off_loop(send_now, "conversation.updated", {"id": 99, "status": "open"}, [company_group("beta")])
    page.wait_for_timeout(500)
    assert page.evaluate("window.heard") == [42]


def test_login_page_on_the_platform_host_and_unknown_company(page, live_server_url):
    page.goto(live_server_url.url("nobody.localhost") + "/")
    expect(page.get_by_role("heading", name="No company at this address")).to_be_visible()
    page.goto(live_server_url.url("localhost") + "/admin/")
    expect(page.get_by_text("OmniDesk operator console")).to_be_visible()
