"""The dashboard's QR-session page: the QR code as SVG, live state, pairing code by phone number, and
only the company's own admins acting on the company's own numbers."""

from __future__ import annotations

from django_tenants.utils import schema_context

from channels_wa.models import QRSession
from tests.factories import UserFactory
from tests.helpers import PASSWORD, host_client, login


def owner_client(tenant):
    client = host_client(tenant.host)
    login(client, tenant.host, tenant.owner_email)
    return client


def test_page_shows_the_qr_code_as_svg_and_what_to_do(alpha, qr_channel):
    with schema_context("alpha"):
        QRSession.objects.filter(channel=qr_channel).update(
            state="pending", qr_code="2@ref,noise,identity,adv"
        )
    response = owner_client(alpha).get(f"/channels/{qr_channel.id}/qr/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "Linked devices" in page
    assert f'data-channel-id="{qr_channel.id}"' in page
    status = owner_client(alpha).get(f"/channels/{qr_channel.id}/qr/status/").json()
    assert status["session_state"] == "pending" and status["qr_svg"].startswith("<svg")


def test_logged_out_number_says_what_to_do(alpha, qr_channel):
    with schema_context("alpha"):
        QRSession.objects.filter(channel=qr_channel).update(
            state="logged_out", state_reason="Logged out by WhatsApp"
        )
    page = owner_client(alpha).get(f"/channels/{qr_channel.id}/qr/").content.decode()
    assert "Logged out by WhatsApp" in page and "Link again" in page and "<svg" not in page


def test_channel_list_links_the_qr_page_and_admins_can_add_a_number(alpha, qr_channel):
    client = owner_client(alpha)
    page = client.get("/channels/").content.decode()
    assert f"/channels/{qr_channel.id}/qr/" in page
    # The name field is a text input, so the dashboard's form styling (input[type=text]) applies to it.
    assert '<input type="text" name="name" maxlength="120" placeholder="Shop phone">' in page
    response = client.post("/channels/qr/new/", {"name": "Second phone"})
    assert response.status_code == 302
    with schema_context("alpha"):
        session = QRSession.objects.get(channel__name="Second phone")
        assert session.state == "not_started" and session.channel.provider == "qr_session"
        assert response["Location"] == f"/channels/{session.channel_id}/qr/"


def test_pairing_without_a_runner_is_a_clear_503(alpha, qr_channel):
    response = owner_client(alpha).post(f"/channels/{qr_channel.id}/qr/pair/", {"phone": "+1 555 123 4567"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "session_unavailable"
    bad = owner_client(alpha).post(f"/channels/{qr_channel.id}/qr/pair/", {"phone": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_phone"


def test_agents_see_but_cannot_act(alpha, qr_channel):
    with schema_context("alpha"):
        agent = UserFactory(email="agent-qr@alpha.test")
        QRSession.objects.filter(channel=qr_channel).update(
            state="pending", qr_code="2@ref,noise,identity,adv"
        )
    client = host_client(alpha.host)
    login(client, alpha.host, agent.email, PASSWORD)
    page = client.get(f"/channels/{qr_channel.id}/qr/")
    assert page.status_code == 200 and "<svg" not in page.content.decode()  # scanning it links a phone
    assert "qr_svg" not in client.get(f"/channels/{qr_channel.id}/qr/status/").json()
    assert client.post(f"/channels/{qr_channel.id}/qr/logout/").status_code == 403
    assert client.post(f"/channels/{qr_channel.id}/qr/pair/", {"phone": "+15551234567"}).status_code == 403
    assert client.post(f"/channels/{qr_channel.id}/qr/settings/", {"daily_cap": "900"}).status_code == 403


def test_another_company_cannot_see_or_touch_the_number(alpha, beta, qr_channel):
    client = owner_client(beta)
    for path in ("qr/", "qr/status/"):
        assert client.get(f"/channels/{qr_channel.id}/{path}").status_code == 404
    for path in ("qr/pair/", "qr/restart/", "qr/logout/", "qr/settings/"):
        assert client.post(f"/channels/{qr_channel.id}/{path}", {"phone": "+15551234567"}).status_code == 404
    # A session cookie of beta does not work on alpha's host either.
    cross = host_client(alpha.host)
    cross.cookies = client.cookies
    assert cross.get(f"/channels/{qr_channel.id}/qr/").status_code == 302
    assert "Shop phone" not in client.get("/channels/").content.decode()


def test_pairing_code_comes_from_the_runner_holding_the_session(committed_db, settings):
    from tests.channels_wa.qr_session.runner_helpers import (
        FAST,
        RunnerThread,
        qr_channel_create,
        qr_channels_delete,
        session_of,
        wait_for,
    )
    from tests.conftest import _tenant

    for name, value in FAST.items():
        setattr(settings, name, value)
    channel = qr_channel_create("Pair by code")
    try:
        with RunnerThread("runner-pair"):
            wait_for(lambda: session_of(channel).state == "pending", what="pending")
            response = owner_client(_tenant("alpha")).post(
                f"/channels/{channel.id}/qr/pair/", {"phone": "+1 555 765 4321"}
            )
            assert response.status_code == 200, response.content
            assert response.json()["pairing_code"] == "FAKE-4321"
            assert session_of(channel).pairing_code == "FAKE-4321"
    finally:
        qr_channels_delete(channel)


def test_admins_set_groups_cap_and_quiet_hours(alpha, qr_channel):
    client = owner_client(alpha)
    url = f"/channels/{qr_channel.id}/qr/settings/"
    response = client.post(
        url,
        {
            "daily_cap": "120",
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:30",
            "timezone": "Europe/Berlin",
            "is_group_messages_enabled": "on",
        },
    )
    assert response.status_code == 200, response.content
    with schema_context("alpha"):
        session = QRSession.objects.get(channel=qr_channel)
        assert (session.daily_cap, session.timezone, session.is_group_messages_enabled) == (
            120,
            "Europe/Berlin",
            True,
        )
        assert (
            session.quiet_hours_start.isoformat() == "21:00:00"
            and session.quiet_hours_end.isoformat() == "08:30:00"
        )
    bad = client.post(url, {"daily_cap": "0", "quiet_hours_start": "21:00", "timezone": "Mars/Base"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]) == {"daily_cap", "timezone"}
    half = client.post(url, {"daily_cap": "100", "quiet_hours_start": "21:00", "timezone": "UTC"})
    assert half.status_code == 400 and "quiet_hours_end" in half.json()["error"]["details"]
    off = client.post(url, {"daily_cap": "100", "timezone": "UTC"})  # unchecked box, no quiet hours
    assert off.status_code == 200 and off.json()["is_group_messages_enabled"] is False
    assert off.json()["quiet_hours_start"] is None
