"""Contacts pages: search and tags, create and edit, CSV import with preview and per-row errors, export,
merge; managers-only parts refused to agents; another company's contacts never show."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from accounts.models import User
from inbox.models import Contact, Conversation, Message, Note
from tests.dashboard.conftest import make_conversation
from tests.helpers import host_client, login

CSV = (
    "phone,name,tags,city\n"
    "+1 415 555 0101,Ann,vip;retail,Paris\n"
    "not a phone,Broken,,\n"
    "1 (415) 555-0102,Ben,,Rome\n"
    "+14155550101,Ann B,wholesale,\n"
)


def owner():
    with schema_context("alpha"):
        return User.objects.get(email="owner@alpha.test")


def test_csv_import_previews_then_imports_and_reports_the_bad_row(world, as_user):
    client = as_user(owner())
    with schema_context("alpha"):
        Contact.objects.create(phone="+14155550102", whatsapp_id="14155550102", name="Known Ben")
    preview = client.post(
        "/contacts/import", {"file": SimpleUploadedFile("people.csv", CSV.encode(), content_type="text/csv")}
    )
    html = preview.content.decode()
    assert preview.status_code == 200 and "Preview of people.csv" in html
    assert "+14155550101" in html and "Error:" in html and "Merged with line 2" in html
    assert "Updates the existing contact" in html
    with schema_context("alpha"):
        assert not Contact.objects.filter(phone="+14155550101").exists()  # nothing saved yet
    token = html.split('name="token" value="')[1].split('"')[0]
    result = client.post("/contacts/import", {"token": token}).content.decode()
    assert (
        "<strong>1</strong> created, <strong>2</strong> updated, <strong>1</strong> rows with errors"
        in result
    )
    assert "<td>3</td>" in result  # the bad row's line number
    with schema_context("alpha"):
        ann = Contact.objects.get(phone="+14155550101")
        assert ann.name == "Ann B" and ann.tags == ["retail", "vip", "wholesale"]
        assert ann.custom_attributes == {"city": "Paris"}
        assert Contact.objects.get(phone="+14155550102").custom_attributes == {"city": "Rome"}
    # a token is used once
    assert "expired" in client.post("/contacts/import", {"token": token}).content.decode()


def test_list_search_tags_create_edit_and_export(world, as_user):
    client = as_user(world.agent)
    created = client.post(
        "/contacts/new", {"phone": "+44 20 7946 0958", "name": "Lena", "tags": "vip, london"}
    )
    assert created.status_code == 302
    with schema_context("alpha"):
        lena = Contact.objects.get(phone="+442079460958")
    assert lena.tags == ["london", "vip"]
    duplicate = client.post("/contacts/new", {"phone": "+442079460958", "name": "Lena again"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.content.decode()
    edited = client.post(
        f"/contacts/{lena.id}/",
        {
            "phone": "+442079460958",
            "name": "Lena K",
            "tags": "vip",
            "custom_attributes": "plan=gold",
            "is_opted_out": "on",
        },
    )
    assert edited.status_code == 302
    with schema_context("alpha"):
        lena.refresh_from_db()
    assert (lena.name, lena.tags, lena.custom_attributes, lena.is_opted_out) == (
        "Lena K",
        ["vip"],
        {"plan": "gold"},
        True,
    )
    listing = client.get("/contacts/?tag=vip").content.decode()
    assert "Lena K" in listing and "Sally Sales" not in listing
    assert "Lena K" in client.get("/contacts/?q=7946").content.decode()
    assert "Lena K" not in client.get("/contacts/?q=Sally").content.decode()
    # export is for managers and up
    assert client.get("/contacts/export.csv").status_code == 403
    export = as_user(owner()).get("/contacts/export.csv")
    body = b"".join(export.streaming_content).decode()
    assert body.startswith("phone,name,tags") and "+442079460958,Lena K,vip,yes" in body


def test_merge_moves_conversations_messages_and_notes(world, as_user):
    with schema_context("alpha"):
        target = world.conversations["sales"].contact
        source_conversation = make_conversation(
            world.channel, name="Sally Dup", phone="+15550009999", text="dup msg"
        )
        Note.objects.create(conversation=source_conversation, body="dup note")
        source = source_conversation.contact
    client = as_user(owner())
    assert (
        as_user(world.agent).post(f"/contacts/{target.id}/merge", {"other": source.phone}).status_code == 403
    )
    response = client.post(f"/contacts/{target.id}/merge", {"other": source.phone})
    assert response.status_code == 302
    with schema_context("alpha"):
        assert not Contact.objects.filter(pk=source.pk).exists()
        active = Conversation.objects.get(contact=target)
        assert Message.objects.filter(conversation=active, body="dup msg").exists()
        assert Note.objects.filter(conversation=active, body="dup note").exists()


def test_another_companys_contacts_are_invisible(world, beta):
    client = host_client("beta.localhost")
    login(client, "beta.localhost", "owner@beta.test")
    sally = world.conversations["sales"].contact
    assert "Sally Sales" not in client.get("/contacts/?q=Sally").content.decode()
    assert client.get(f"/contacts/{sally.id}/").status_code == 404
    assert client.post(f"/contacts/{sally.id}/delete").status_code == 404
    assert "Sally" not in b"".join(client.get("/contacts/export.csv").streaming_content).decode()


def test_the_contact_list_costs_the_same_queries_for_few_or_many(world, as_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(owner())

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/contacts/").status_code == 200
        return len(captured)

    few = queries()
    with schema_context("alpha"):
        Contact.objects.bulk_create(
            Contact(phone=f"+1555300{n:04d}", whatsapp_id=f"1555300{n:04d}", name=f"Many {n}", tags=["bulk"])
            for n in range(60)
        )
    assert queries() == few
