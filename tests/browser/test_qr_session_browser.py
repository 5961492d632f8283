"""Linking a number by QR code, in a real browser: the QR code appears as SVG and refreshes live over
/ws/ as WhatsApp rotates it, then gives way to the linked state."""

from __future__ import annotations

from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.conftest import off_loop as _off_loop


def off_loop(fn, *args):
    """Database work on a helper thread, which then gives its connection back."""

    def run():
        from django.db import connections

        try:
            return fn(*args)
        finally:
            connections.close_all()

    return _off_loop(run)


def _create_channel():
    from channels_wa.services import channel_create
    from tests.helpers import unique

    with schema_context("alpha"):
        return channel_create(provider="qr_session", name="Browser QR", external_id=unique("qr-"))


def _show_code(channel_id: int, code: str):
    from channels_wa.models import QRSession
    from channels_wa.providers.qr_session.services import qr_session_show_code

    with schema_context("alpha"):
        qr_session_show_code(session=QRSession.objects.get(channel_id=channel_id), code=code)


def _transition(channel_id: int, state: str, reason: str):
    from channels_wa.models import QRSession
    from channels_wa.providers.qr_session.services import qr_session_transition

    with schema_context("alpha"):
        qr_session_transition(
            session=QRSession.objects.get(channel_id=channel_id), to_state=state, reason=reason
        )


def _delete(channel):
    from channels_wa.services import channel_delete

    with schema_context("alpha"):
        channel_delete(channel=channel)


def test_qr_code_refreshes_live_then_the_number_is_linked(page, live_server_url):
    channel = off_loop(_create_channel)
    try:
        base = live_server_url.url("alpha.localhost")
        page.goto(f"{base}/login/")
        page.get_by_label("Email").fill("owner@alpha.test")
        page.get_by_label("Password").fill("correct-horse-battery")
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{base}/channels/{channel.id}/qr/")
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        expect(page.locator("#qr-code svg")).to_have_count(0)

        off_loop(_show_code, channel.id, "2@first-code,abc,def")
        expect(page.locator("#qr-code svg")).to_be_visible(timeout=15_000)  # a busy CI machine
        expect(page.locator("#qr-state")).to_have_attribute("data-state", "pending")
        first = page.locator("#qr-code").inner_html()

        off_loop(_show_code, channel.id, "2@second-code,ghi,jkl")
        page.wait_for_function("(first) => document.getElementById('qr-code').innerHTML !== first", arg=first)

        off_loop(_transition, channel.id, "authenticated", "Linked to the phone.")
        expect(page.locator("#qr-state")).to_have_attribute("data-state", "authenticated")
        expect(page.locator("#qr-code svg")).to_have_count(0)
        expect(page.locator("#qr-reason")).to_have_text("Linked to the phone.")
    finally:
        off_loop(_delete, channel)
