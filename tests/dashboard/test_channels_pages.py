"""Channels: admins connect a WhatsApp Cloud number, see the webhook URL and verify token, test the
connection and sync templates (against the sandbox speaking Meta's wire format)."""

from __future__ import annotations

import httpx
from django_tenants.utils import schema_context

from accounts.models import User
from channels_wa.models import Channel
from tests.helpers import host_client, login, unique


def owner():
    with schema_context("alpha"):
        return User.objects.get(email="owner@alpha.test")


def test_connect_test_and_sync_a_whatsapp_cloud_number(world, as_user, sandbox, settings):
    settings.META_GRAPH_BASE_URL = sandbox.base_url
    number_id = unique("7")
    httpx.put(
        f"{sandbox.base_url}/_sandbox/numbers/{number_id}",
        json={
            "display_phone_number": "+15550007777",
            "waba_id": "waba-77",
            "access_token": "good-token",
            "app_secret": "s",
        },
    ).raise_for_status()
    client = as_user(owner())
    response = client.post(
        "/channels/new",
        {
            "name": "Support line",
            "phone_number": "+15550007777",
            "external_id": number_id,
            "account_id": "waba-77",
            "access_token": "good-token",
            "app_secret": "app-secret-value",
            "verify_token": "paste-me-into-meta",
        },
    )
    assert response.status_code == 302
    with schema_context("alpha"):
        channel = Channel.objects.get(external_id=number_id)
    detail = client.get(response["Location"]).content.decode()
    assert f"/webhooks/whatsapp/{channel.uuid}/" in detail and "paste-me-into-meta" in detail
    assert "good-token" not in detail and "app-secret-value" not in detail

    client.post(f"/channels/{channel.id}/test")
    with schema_context("alpha"):
        channel.refresh_from_db()
    assert channel.status == "connected"
    client.post(f"/channels/{channel.id}/sync-templates")
    detail = client.get(f"/channels/{channel.id}/").content.decode()
    assert "order_update" in detail and "REJECTED" in detail
    assert "Support line" in client.get("/channels/").content.decode()

    with schema_context("alpha"):
        channel.access_token = "wrong-token"
        channel.save()
    client.post(f"/channels/{channel.id}/test")
    with schema_context("alpha"):
        channel.refresh_from_db()
    assert channel.status == "error" and channel.last_error


def test_agents_see_channels_but_cannot_change_them(world, as_user):
    client = as_user(world.agent)
    listing = client.get("/channels/").content.decode()
    assert world.channel.name in listing and "Connect WhatsApp Cloud number" not in listing
    assert "verify-me" not in client.get(f"/channels/{world.channel.id}/").content.decode()
    assert client.post("/channels/new", {"external_id": "1"}).status_code == 403
    assert client.post(f"/channels/{world.channel.id}/test").status_code == 403


def test_another_companys_channels_are_invisible(world, beta):
    client = host_client("beta.localhost")
    login(client, "beta.localhost", "owner@beta.test")
    assert world.channel.name not in client.get("/channels/").content.decode()
    assert client.get(f"/channels/{world.channel.id}/").status_code == 404
    assert client.post(f"/channels/{world.channel.id}/sync-templates").status_code == 404
