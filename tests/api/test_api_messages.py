"""Sending and reading through the API, against the sandbox, with its errors in the JSON shape."""

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from inbox.models import Contact, Conversation, Label, Message, Note
from tenants.models import Plan
from tests.api.conftest import Api, customer_writes, issue_key
from tests.api.test_api_auth import assert_error

CUSTOMER = "+15551110001"


def send(api, channel, **body):
    return api.post("/api/v1/messages", {"channel_id": channel.id, "to": CUSTOMER, **body})


def test_template_to_a_new_number_creates_contact_and_conversation(
    api, sandbox_channel, sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            api,
            sandbox_channel,
            type="template",
            template={"name": "order_update", "language": "en", "body_params": ["Ana", "A-1"]},
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["type"] == "template" and body["direction"] == "outbound"
    with schema_context("alpha"):
        message = Message.objects.get(pk=body["id"])
        assert message.status == "sent" and message.sender_kind == "api"
        assert message.conversation.contact.phone == CUSTOMER
    fetched = api.get(f"/api/v1/messages/{body['id']}").json()
    assert fetched["status"] == "sent" and fetched["provider_message_id"].startswith("wamid.")


def test_free_text_outside_the_window_is_422_naming_the_fix(api, sandbox_channel):
    error = assert_error(send(api, sandbox_channel, text="Hello!"), 422, "window_closed")
    assert "template" in error["message"]
    with schema_context("alpha"):
        assert not Message.objects.exists()


def test_text_inside_the_window_is_sent(api, sandbox_channel, sandbox, django_capture_on_commit_callbacks):
    from tests.channels_wa.webhooks import channel_path, fixture_body, post_webhook

    customer_writes(sandbox, sandbox_channel, CUSTOMER.lstrip("+"))
    body = fixture_body(
        "message__text",
        phone_number_id=sandbox_channel.external_id,
        replace={"15551234567": CUSTOMER.lstrip("+")},
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(host="alpha.localhost", path=channel_path(sandbox_channel), body=body)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(api, sandbox_channel, text="Thanks for writing!")
    assert response.status_code == 202, response.content
    with schema_context("alpha"):
        assert Message.objects.get(pk=response.json()["id"]).status == "sent"
        assert Conversation.objects.count() == 1


def test_bad_input_gives_the_error_shape_and_no_side_effect(api, sandbox_channel):
    cases = [
        (api.post("/api/v1/messages", "{not json", raw=True), 400, "malformed_request"),
        (send(api, sandbox_channel, text="x", colour="red"), 400, "validation_error"),
        (
            send(api, sandbox_channel, type="template", template={"name": "x", "language": "en"}, to="12"),
            400,
            "invalid_phone",
        ),
        (
            api.post("/api/v1/messages", {"channel_id": 999, "to": CUSTOMER, "text": "x"}),
            400,
            "unknown_channel",
        ),
        (send(api, sandbox_channel, text=""), 400, "empty_message"),
        (send(api, sandbox_channel, text="x" * 4097), 400, "text_too_long"),
        (send(api, sandbox_channel, type="image"), 400, "media_required"),
        (api.post("/api/v1/messages", ["a", "list"]), 400, "validation_error"),
    ]
    for response, status, code in cases:
        assert_error(response, status, code)
    assert cases[1][0].json()["error"]["details"]["fields"] == {"colour": ["Unknown field."]}
    with schema_context("alpha"):
        assert not Message.objects.exists() and not Contact.objects.exists()


def test_daily_message_quota(api, sandbox_channel, django_capture_on_commit_callbacks):
    Plan.objects.filter(code="pro").update(messages_per_day=1)
    template = {"type": "template", "template": {"name": "hello_world", "language": "en_US"}}
    with django_capture_on_commit_callbacks(execute=True):
        assert send(api, sandbox_channel, **template).status_code == 202
    error = assert_error(send(api, sandbox_channel, **template), 429, "quota_exceeded")
    assert error["details"]["messages_per_day"] == 1


def test_conversations_list_filter_page_patch_and_notes(
    api, sandbox_channel, django_capture_on_commit_callbacks
):
    with schema_context("alpha"):
        for i in range(3):
            contact = Contact.objects.create(phone=f"+1555222000{i}", whatsapp_id=f"1555222000{i}")
            Conversation.objects.create(
                contact=contact, channel=sandbox_channel, status="open" if i < 2 else "resolved"
            )
    page = api.get("/api/v1/conversations", {"status": "open", "limit": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    second = api.get(page["next"].split("alpha.localhost")[-1]).json()
    assert len(second["results"]) == 1 and second["results"][0]["id"] != page["results"][0]["id"]
    assert_error(api.get("/api/v1/conversations", {"updated_since": "yesterday"}), 400, "invalid_filter")

    conversation_id = page["results"][0]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        patched = api.patch(
            f"/api/v1/conversations/{conversation_id}",
            {"status": "resolved", "labels": ["vip"], "priority": "high"},
        )
    assert patched.status_code == 200, patched.content
    assert patched.json()["status"] == "resolved" and patched.json()["labels"] == ["vip"]
    assert_error(
        api.patch(f"/api/v1/conversations/{conversation_id}", {"assignee_id": 999}), 400, "unknown_assignee"
    )

    note = api.post(f"/api/v1/conversations/{conversation_id}/notes", {"body": "VIP customer"})
    assert note.status_code == 201
    with schema_context("alpha"):
        assert Note.objects.get().body == "VIP customer"
    assert api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["results"] == []


def test_one_company_never_sees_anothers_conversations(api, beta, sandbox_channel):
    from tests.channels_wa.webhooks import make_channel

    beta_channel = make_channel("beta", external_id="100000000000077")
    with schema_context("beta"):
        contact = Contact.objects.create(phone="+15553330000", whatsapp_id="15553330000")
        beta_conversation = Conversation.objects.create(contact=contact, channel=beta_channel)
    assert api.get("/api/v1/conversations").json()["results"] == []
    assert_error(api.get(f"/api/v1/conversations/{beta_conversation.id}"), 404, "not_found")
    beta_api = Api("beta.localhost", issue_key("beta").plaintext)
    assert [c["id"] for c in beta_api.get("/api/v1/conversations").json()["results"]] == [
        beta_conversation.id
    ]


def test_the_dashboard_session_uses_the_same_endpoints(alpha, sandbox_channel):
    from tests.helpers import host_client, login

    client = host_client("alpha.localhost")
    login(client, "alpha.localhost", alpha.owner_email)
    response = client.get("/api/v1/conversations")
    assert response.status_code == 200 and response["X-RateLimit-Limit"]


def test_openapi_schema_and_docs_are_served_offline(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/messages" in schema.content
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()


def test_the_list_shows_each_conversation_exactly_as_its_detail_does(api, sandbox_channel):
    """The list is built from plain rows for speed; it must match the detail serializer field for field."""
    with schema_context("alpha"):
        vip, late = Label.objects.create(name="vip"), Label.objects.create(name="a-late-payer")
        named = Contact.objects.create(phone="+15552220101", whatsapp_id="15552220101", name="Ana")
        profile_only = Contact.objects.create(whatsapp_id="15552220102", profile_name="Bo")
        bare = Contact.objects.create(whatsapp_id="15552220103")
        first = Conversation.objects.create(
            contact=named,
            channel=sandbox_channel,
            priority="high",
            unread_count=3,
            last_message_preview="hi",
            last_message_at=timezone.now(),
            window_expires_at=timezone.now() + timedelta(hours=3),
        )
        first.labels.set([vip, late])
        second = Conversation.objects.create(contact=profile_only, channel=sandbox_channel, status="snoozed")
        second.labels.set([vip])
        Conversation.objects.create(contact=bare, channel=sandbox_channel)
    listed = api.get("/api/v1/conversations").json()["results"]
    assert len(listed) == 3
    for item in listed:
        assert item == api.get(f"/api/v1/conversations/{item['id']}").json()
    assert next(i for i in listed if i["id"] == first.id)["labels"] == ["a-late-payer", "vip"]
    # Filtering by one label still shows every label of the conversations found, once each.
    by_label = api.get("/api/v1/conversations", {"label": "vip"}).json()["results"]
    assert sorted(i["id"] for i in by_label) == sorted([first.id, second.id])
    assert next(i for i in by_label if i["id"] == first.id)["labels"] == ["a-late-payer", "vip"]
    from api.views import CONVERSATION_ROWS

    assert CONVERSATION_ROWS._result_cache is None  # the shared base is only cloned, never filled


def test_the_send_response_shows_the_message_exactly_as_its_detail_does(api, sandbox_channel):
    """The send response is built without DRF's serializer for speed; it must match the detail."""
    from api.serializers import MessageOut
    from api.views import message_out

    template = {"type": "template", "template": {"name": "hello_world", "language": "en_US"}}
    sent = send(api, sandbox_channel, **template).json()  # not delivered: the worker's task is not run
    assert sent == api.get(f"/api/v1/messages/{sent['id']}").json()
    with schema_context("alpha"):
        message = Message.objects.get(pk=sent["id"])
        now = timezone.now()
        message.status, message.error_code, message.error_title = "failed", "131047", "Re-engagement"
        message.error_detail, message.provider_message_id = "More than 24 hours", "wamid.X"
        message.payload = {**message.payload, "segments": 2}
        message.sent_at = message.delivered_at = message.read_at = message.failed_at = now
        assert message_out(message) == MessageOut(message).data
        message.payload["segments"] = "2"
        message.body = "Olá"
        assert message_out(message) == MessageOut(message).data


def test_a_send_to_a_known_number_reads_two_rows(api, sandbox_channel):
    """The channel, then the contact with its open conversation; nothing else is read from the database."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    template = {"type": "template", "template": {"name": "hello_world", "language": "en_US"}}
    first = send(api, sandbox_channel, **template).json()
    with CaptureQueriesContext(connection) as queries:
        second = send(api, sandbox_channel, **template).json()
    assert second["conversation_id"] == first["conversation_id"]
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 2, reads
