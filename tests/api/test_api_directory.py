"""Contacts and channels through the API."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from inbox.models import Contact, Conversation, Message
from tenants.models import ChannelRoute
from tests.api.conftest import Api, issue_key
from tests.api.test_api_auth import assert_error
from tests.channels_wa.webhooks import make_channel


def test_contact_create_search_update_delete(api):
    created = api.post(
        "/api/v1/contacts", {"phone": "+44 20 7946 0958", "name": "Ana", "tags": ["vip", "vip"]}
    )
    assert created.status_code == 201, created.content
    contact = created.json()
    assert contact["phone"] == "+442079460958" and contact["tags"] == ["vip"]
    assert_error(api.post("/api/v1/contacts", {"phone": "+442079460958"}), 409, "contact_exists")
    assert_error(api.post("/api/v1/contacts", {"phone": "12"}), 400, "invalid_phone")

    assert [c["id"] for c in api.get("/api/v1/contacts", {"q": "ana"}).json()["results"]] == [contact["id"]]
    assert api.get("/api/v1/contacts", {"q": "nobody"}).json()["results"] == []
    updated = api.patch(f"/api/v1/contacts/{contact['id']}", {"custom_attributes": {"plan": "gold"}})
    assert updated.json()["custom_attributes"] == {"plan": "gold"}
    assert api.client.delete(f"/api/v1/contacts/{contact['id']}", **api.headers()).status_code == 204
    assert_error(api.get(f"/api/v1/contacts/{contact['id']}"), 404, "not_found")


def test_csv_import_reports_bad_rows_and_imports_the_rest(api):
    csv = b"phone,name,tags,city\n+15550001000,Bo,a;b,Lisbon\nnot-a-phone,X,,\n+15550001001,Cy,,Porto\n"
    response = api.client.post(
        "/api/v1/contacts/import",
        {"file": SimpleUploadedFile("contacts.csv", csv, "text/csv")},
        **api.headers(),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"]) == (2, 0) and body["errors"][0]["line"] == 3
    with schema_context("alpha"):
        bo = Contact.objects.get(phone="+15550001000")
        assert bo.tags == ["a", "b"] and bo.custom_attributes == {"city": "Lisbon"}


def test_merge_moves_conversations_and_identities(api, alpha):
    channel = make_channel("alpha")
    with schema_context("alpha"):
        source = Contact.objects.create(whatsapp_id="15550002000", tags=["x"])
        target = Contact.objects.create(phone="+15550002001", tags=["y"])
        conversation = Conversation.objects.create(contact=source, channel=channel)
        Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction="inbound",
            body="hi",
            status="received",
            sender_kind="contact",
            provider_message_id="wamid.M1",
        )
    merged = api.post(f"/api/v1/contacts/{source.id}/merge", {"into": target.id})
    assert merged.status_code == 200, merged.content
    assert merged.json()["tags"] == ["x", "y"] and merged.json()["whatsapp_id"] == "15550002000"
    with schema_context("alpha"):
        assert not Contact.objects.filter(pk=source.pk).exists()
        assert Conversation.objects.get().contact_id == target.id


def test_channels_create_with_webhook_url_secrets_write_only_update_and_delete(api):
    response = api.post(
        "/api/v1/channels",
        {
            "provider": "meta_whatsapp",
            "name": "Sales",
            "external_id": "100000000000500",
            "phone_number": "+15550005000",
            "access_token": "very-secret-token",
            "app_secret": "very-secret-app",
        },
    )
    assert response.status_code == 201, response.content
    channel = response.json()
    assert channel["webhook_url"].endswith(f"/webhooks/whatsapp/{channel['uuid']}/")
    assert channel["has_access_token"] is True and "very-secret" not in response.content.decode()
    assert ChannelRoute.objects.filter(external_id="100000000000500").exists()

    listed = api.get("/api/v1/channels")
    assert "very-secret" not in listed.content.decode() and len(listed.json()["results"]) == 1
    patched = api.patch(f"/api/v1/channels/{channel['id']}", {"name": "Sales EU", "app_secret": "rotated"})
    assert patched.json()["name"] == "Sales EU"
    with schema_context("alpha"):
        assert Channel.objects.get(pk=channel["id"]).app_secret == "rotated"
    assert api.get(f"/api/v1/channels/{channel['id']}/status").json()["status"] == "connecting"
    assert_error(
        api.patch(f"/api/v1/channels/{channel['id']}", {"external_id": "x"}), 400, "validation_error"
    )
    assert api.client.delete(f"/api/v1/channels/{channel['id']}", **api.headers()).status_code == 204
    assert not ChannelRoute.objects.filter(external_id="100000000000500").exists()


def test_templates_sync_and_list(api, sandbox_channel):
    synced = api.post(f"/api/v1/channels/{sandbox_channel.id}/templates/sync", {})
    assert synced.status_code == 200 and synced.json()["synced"] >= 4
    names = [t["name"] for t in api.get(f"/api/v1/channels/{sandbox_channel.id}/templates").json()["results"]]
    assert "order_update" in names


def test_agent_sessions_and_narrow_keys_cannot_manage_channels(alpha):
    narrow = Api("alpha.localhost", issue_key("alpha", scopes=["contacts:read"]).plaintext)
    assert_error(narrow.get("/api/v1/channels"), 403, "insufficient_scope")
