"""The inbox pages and actions: what each role sees, what each action changes, constant query counts,
and that nothing crosses from one company to another."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import User
from channels_wa.models import Template
from inbox.models import Conversation, Message, Note
from tests.dashboard.conftest import make_conversation
from tests.helpers import host_client, login

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def row_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'class="conversation-row[^"]*" data-id="(\d+)"', html)]


def owner():
    with schema_context("alpha"):
        return User.objects.get(email="owner@alpha.test")


def test_the_inbox_page_lists_conversations_newest_first(world, as_user):
    response = as_user(owner()).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    c = world.conversations
    assert row_ids(html)[:4] == [c["sales"].id, c["support"].id, c["queue"].id, c["mine"].id]
    assert "Price of the red shoes?" in html and "+15550001001" in html
    assert "window closed" in html  # the conversation whose 24-hour window is over is marked


def test_agents_see_their_departments_the_shared_queue_and_their_own(world, as_user):
    c = world.conversations
    html = as_user(world.agent).get("/inbox/rows?status=").content.decode()
    assert set(row_ids(html)) == {c["sales"].id, c["queue"].id, c["mine"].id, c["closed"].id}
    manager_html = as_user(world.manager).get("/inbox/rows?status=").content.decode()
    assert set(c_.id for c_ in c.values()) <= set(row_ids(manager_html))

    agent = as_user(world.agent)
    hidden = c["support"].id
    assert agent.get(f"/inbox/c/{hidden}", **FETCH).status_code == 404
    assert agent.get(f"/inbox/c/{hidden}/thread").status_code == 404
    assert agent.get(f"/?c={hidden}").status_code == 404
    assert agent.post(f"/inbox/c/{hidden}/send", {"text": "hi"}, **FETCH).status_code == 404
    assert agent.post(f"/inbox/c/{hidden}/action", {"action": "resolve"}, **FETCH).status_code == 404
    assert agent.post(f"/inbox/c/{hidden}/note", {"body": "x"}, **FETCH).status_code == 404
    assert agent.get(f"/inbox/rows?ids={hidden}").content.decode().strip() == ""
    with schema_context("alpha"):
        hidden_message = Message.objects.filter(conversation_id=hidden).first()
        assert Conversation.objects.get(pk=hidden).status == "open"
    assert agent.get(f"/inbox/m/{hidden_message.id}").status_code == 404


def test_views_and_filters(world, as_user):
    c = world.conversations
    agent = as_user(world.agent)
    assert row_ids(agent.get("/inbox/rows?view=mine").content.decode()) == [c["mine"].id]
    unassigned = row_ids(agent.get("/inbox/rows?view=unassigned&status=").content.decode())
    assert c["mine"].id not in unassigned and c["queue"].id in unassigned
    client = as_user(owner())
    assert row_ids(client.get(f"/inbox/rows?department={world.support.id}").content.decode()) == [
        c["support"].id,
        c["mine"].id,
    ]
    # a department filter keeps to what the agent may see: all of their own, only their own elsewhere
    assert set(row_ids(agent.get(f"/inbox/rows?department={world.sales.id}&status=").content.decode())) == {
        c["sales"].id,
        c["closed"].id,
    }
    assert row_ids(agent.get(f"/inbox/rows?department={world.support.id}").content.decode()) == [c["mine"].id]
    assert row_ids(client.get("/inbox/rows?q=red shoes").content.decode()) == [c["sales"].id]
    assert row_ids(client.get("/inbox/rows?q=Quinn").content.decode()) == [c["queue"].id]
    assert row_ids(client.get("/inbox/rows?q=0001004").content.decode()) == [c["mine"].id]
    with schema_context("alpha"):
        from inbox.services import conversation_update

        conversation_update(conversation=c["queue"], labels=["vip"], status="pending")
        label_id = c["queue"].labels.get().id
    assert row_ids(client.get(f"/inbox/rows?label={label_id}&status=pending").content.decode()) == [
        c["queue"].id
    ]
    assert row_ids(client.get(f"/inbox/rows?label={label_id}").content.decode()) == []
    counts = as_user(world.agent).get("/inbox/counts").json()
    assert counts == {"all": 3, "mine": 1, "unassigned": 2, "unread": 3}


def test_the_list_pages_by_30_with_a_cursor_and_constant_queries(
    world, as_user, django_assert_max_num_queries
):
    with schema_context("alpha"):
        for n in range(35):
            make_conversation(world.channel, name=f"Bulk {n}", phone=f"+1555100{n:04d}", minutes_ago=10 + n)
    client = as_user(owner())
    first = client.get("/inbox/rows")
    ids = row_ids(first.content.decode())
    assert len(ids) == 30 and first["X-Next-Cursor"]
    second = client.get(f"/inbox/rows?cursor={first['X-Next-Cursor']}")
    more = row_ids(second.content.decode())
    assert len(more) == 10 and not set(ids) & set(more) and second["X-Next-Cursor"] == ""

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    # 30 rows cost what 3 rows cost: no query per row.
    assert queries("/inbox/rows") == queries(f"/inbox/rows?cursor={first['X-Next-Cursor']}")
    # a search probes the newest conversations first (a page of matches there: one query more); with too
    # few there, it asks the trigram indexes for the ids of every match and reads the page by them
    assert queries("/inbox/rows?q=Bulk") == queries("/inbox/rows") + 1
    assert queries("/inbox/rows?q=Bulk 3") == queries("/inbox/rows") + 2
    assert queries("/") <= queries("/inbox/rows") + 8


def test_pages_split_ties_of_the_same_instant_by_id(world, as_user):
    """Keyset pages (list and thread) start right after the last row shown, even when many rows share
    its timestamp: nothing repeated, nothing skipped."""
    conversation = world.conversations["queue"]
    with schema_context("alpha"):
        instant = timezone.now() - timedelta(minutes=5)
        tied = [
            make_conversation(world.channel, name=f"Tie {n}", phone=f"+1555300{n:04d}") for n in range(45)
        ]
        Conversation.objects.filter(pk__in=[c.id for c in tied]).update(last_message_at=instant)
        for n in range(50):
            Message.objects.create(
                conversation=conversation,
                channel=world.channel,
                direction="inbound",
                body=f"tied {n}",
                status="received",
                sender_kind="contact",
            )
        conversation.messages.update(created_at=instant)
    client = as_user(owner())
    seen, url = [], "/inbox/rows?status="
    while url:
        response = client.get(url)
        seen += row_ids(response.content.decode())
        url = f"/inbox/rows?status=&cursor={response['X-Next-Cursor']}" if response["X-Next-Cursor"] else ""
    assert len(seen) == len(set(seen)) and {c.id for c in tied} <= set(seen)
    newest = client.get(f"/inbox/c/{conversation.id}/thread").content.decode()
    ids = [int(v) for v in re.findall(r'data-message-id="(\d+)"', newest)]
    older = client.get(f"/inbox/c/{conversation.id}/thread?before={ids[0]}").content.decode()
    older_ids = [int(v) for v in re.findall(r'data-message-id="(\d+)"', older)]
    assert len(ids) == 40 and len(older_ids) == 11 and max(older_ids) < min(ids)


def test_a_row_shows_what_its_conversation_holds(world, as_user):
    c = world.conversations["mine"]
    with schema_context("alpha"):
        from inbox.services import conversation_update

        conversation_update(conversation=c, labels=["zz-later", "aa-vip"], priority="high", status="pending")
        c.refresh_from_db()
    html = as_user(owner()).get(f"/inbox/rows?ids={c.id}&status=").content.decode()
    assert row_ids(html) == [c.id]
    assert ">Mina Mine<" in html and "+15550001004" in html and "Thanks Andy" in html
    assert f"@{world.agent}" in html and world.channel.name in html
    assert 'status-pending">Pending<' in html and 'priority-high">High<' in html
    assert html.index(">aa-vip<") < html.index(">zz-later<")  # labels by name
    stamp = c.last_message_at
    assert f'data-ts="{int(stamp.timestamp())}.{stamp.microsecond:06d}"' in html
    assert f'datetime="{timezone.localtime(stamp).isoformat()}"' in html
    assert 'aria-label="1 unread"' in html and "window closed" not in html
    closed = as_user(owner()).get(f"/inbox/rows?ids={world.conversations['closed'].id}&status=")
    assert "window closed" in closed.content.decode() and "unassigned" in closed.content.decode()


def conversation_queries(client, url: str) -> list[str]:
    """The queries one request sends to the conversations table (sign-in and schema queries left out)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in captured if "inbox_conversation" in query["sql"]]


def test_a_realtime_refresh_reads_rows_and_counts_in_one_query_each(world, as_user):
    """What a burst of realtime events costs: one request for every row it touched and one for the
    sidebar counts, each ONE query whatever the number of rows (no COUNT per view, no lookup per row)."""
    with schema_context("alpha"):
        from inbox.services import conversation_update

        extra = [
            make_conversation(world.channel, name=f"Live {n}", phone=f"+1555200{n:04d}", minutes_ago=5 + n)
            for n in range(12)
        ]
        for conversation in extra[::3]:
            conversation_update(conversation=conversation, labels=["vip", "late"])
    for user in (world.agent, world.manager):
        client = as_user(user)
        one = conversation_queries(client, f"/inbox/rows?ids={extra[0].id}")
        burst = conversation_queries(client, "/inbox/rows?ids=" + ",".join(str(c.id) for c in extra))
        assert len(one) == len(burst) == 1
        html = client.get("/inbox/rows?ids=" + ",".join(str(c.id) for c in extra)).content.decode()
        assert len(row_ids(html)) == 12 and html.count(">vip<") == 4
        counts = conversation_queries(client, "/inbox/counts")
        assert len(counts) == 1 and counts[0].count("COUNT(") == 4
        assert len(conversation_queries(client, "/inbox/rows")) == 1


def test_thread_pages_and_notes_with_constant_queries(world, as_user):
    conversation = world.conversations["sales"]
    with schema_context("alpha"):
        base = timezone.now() - timedelta(days=2)
        for n in range(60):
            message = Message.objects.create(
                conversation=conversation,
                channel=world.channel,
                direction="outbound" if n % 2 else "inbound",
                body=f"message {n}",
                status="read" if n % 2 else "received",
                sender_kind="user" if n % 2 else "contact",
            )
            Message.objects.filter(pk=message.pk).update(created_at=base + timedelta(hours=n))
        Note.objects.create(conversation=conversation, author=owner(), body="Customer is a VIP")
    client = as_user(owner())
    html = client.get(f"/?c={conversation.id}").content.decode()
    assert html.count('class="message ') == 40
    assert "Customer is a VIP" in html and 'class="note"' in html
    assert 'class="day-separator"' in html and "tick-read" in html
    first_id = int(re.search(r'data-message-id="(\d+)"', html).group(1))
    older = client.get(f"/inbox/c/{conversation.id}/thread?before={first_id}")
    assert older["X-Has-Older"] == "0" and older.content.decode().count('class="message ') == 21

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        return len(captured)

    assert queries(f"/inbox/c/{conversation.id}/thread") == queries(
        f"/inbox/c/{world.conversations['queue'].id}/thread"
    )


def test_reply_note_and_closed_window(world, as_user):
    client = as_user(world.agent)
    sales, closed = world.conversations["sales"], world.conversations["closed"]
    response = client.post(f"/inbox/c/{sales.id}/send", {"text": "They are 40 EUR."}, **FETCH)
    assert response.status_code == 201
    with schema_context("alpha"):
        reply = Message.objects.get(pk=response.json()["message_id"])
    assert (reply.direction, reply.status, reply.body, reply.sender_user_id) == (
        "outbound",
        "queued",
        "They are 40 EUR.",
        world.agent.id,
    )
    refused = client.post(f"/inbox/c/{closed.id}/send", {"text": "Hello?"}, **FETCH)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "window_closed"
    empty = client.post(f"/inbox/c/{sales.id}/send", {"text": "  "}, **FETCH)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_message"

    note = client.post(f"/inbox/c/{sales.id}/note", {"body": "Offer 10% off"}, **FETCH)
    assert note.status_code == 201 and "Offer 10% off" in note.content.decode()
    # Without JavaScript the form posts and comes back to the conversation.
    plain = client.post(f"/inbox/c/{sales.id}/send", {"text": "Plain form"})
    assert plain.status_code == 302 and plain["Location"] == f"/?c={sales.id}"


def test_a_template_with_variables_is_the_way_out_of_a_closed_window(world, as_user):
    closed = world.conversations["closed"]
    with schema_context("alpha"):
        template = Template.objects.create(
            channel=world.channel,
            name="order_update",
            language="en",
            status="APPROVED",
            components=[{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}],
            variable_count=2,
        )
        Template.objects.create(
            channel=world.channel, name="promo", language="en", status="REJECTED", components=[]
        )
    client = as_user(world.agent)
    listed = client.get(f"/inbox/c/{closed.id}/templates").json()["results"]
    assert [(t["name"], t["body_vars"]) for t in listed] == [("order_update", ["1", "2"])]
    missing = client.post(
        f"/inbox/c/{closed.id}/send", {"template_id": template.id, "body_1": "Carl"}, **FETCH
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "template_variables_missing"
    sent = client.post(
        f"/inbox/c/{closed.id}/send",
        {"template_id": template.id, "body_1": "Carl", "body_2": "#1042"},
        **FETCH,
    )
    assert sent.status_code == 201
    with schema_context("alpha"):
        message = Message.objects.get(pk=sent.json()["message_id"])
    assert message.kind == "template" and message.body == "Hi Carl, your order #1042 has shipped."
    assert message.payload == {
        "name": "order_update",
        "language": "en",
        "header_params": [],
        "body_params": ["Carl", "#1042"],
    }


def test_conversation_actions(world, as_user):
    client = as_user(world.agent)
    conversation = world.conversations["queue"]
    url = f"/inbox/c/{conversation.id}/action"
    assert client.post(url, {"action": "assign_me"}, **FETCH).status_code == 200
    assert client.post(url, {"action": "priority", "priority": "high"}, **FETCH).status_code == 200
    assert client.post(url, {"action": "labels", "labels": "vip, refund"}, **FETCH).status_code == 200
    assert (
        client.post(url, {"action": "department", "department": world.sales.id}, **FETCH).status_code == 200
    )
    past = client.post(url, {"action": "snooze", "until": "2001-01-01T10:00"}, **FETCH)
    assert past.status_code == 400 and past.json()["error"]["code"] == "snooze_in_past"
    until = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(url, {"action": "snooze", "until": until}, **FETCH).status_code == 200
    with schema_context("alpha"):
        conversation.refresh_from_db()
        assert (conversation.assignee_id, conversation.priority, conversation.status) == (
            world.agent.id,
            "high",
            "snoozed",
        )
        assert sorted(conversation.labels.values_list("name", flat=True)) == ["refund", "vip"]
        assert conversation.department_id == world.sales.id
    assert client.post(url, {"action": "resolve"}, **FETCH).status_code == 200
    assert (
        client.post(url, {"action": "assign", "assignee": world.other_agent.id}, **FETCH).status_code == 200
    )
    with schema_context("alpha"):
        conversation.refresh_from_db()
        assert conversation.status == "resolved" and conversation.assignee_id == world.other_agent.id
    assert client.post(url, {"action": "explode"}, **FETCH).status_code == 400
    read = client.post(f"/inbox/c/{world.conversations['sales'].id}/read", **FETCH)
    assert read.status_code == 200
    with schema_context("alpha"):
        assert Conversation.objects.get(pk=world.conversations["sales"].id).unread_count == 0


def test_another_company_sees_nothing(world, beta):
    client = host_client("beta.localhost")
    login(client, "beta.localhost", "owner@beta.test")
    sales = world.conversations["sales"]
    assert str(sales.id) not in " ".join(map(str, row_ids(client.get("/").content.decode())))
    assert "Sally Sales" not in client.get("/inbox/rows?status=").content.decode()
    assert client.get(f"/inbox/c/{sales.id}", **FETCH).status_code == 404
    assert client.post(f"/inbox/c/{sales.id}/send", {"text": "hi"}, **FETCH).status_code == 404
    assert client.post(f"/inbox/c/{sales.id}/action", {"action": "resolve"}, **FETCH).status_code == 404
    # alpha's session cookie is worthless on beta's host
    alpha_client = host_client("alpha.localhost")
    login(alpha_client, "alpha.localhost", "owner@alpha.test")
    response = alpha_client.get("/inbox/rows", HTTP_HOST="beta.localhost")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_signed_out_users_go_to_the_login_page(world):
    client = host_client("alpha.localhost")
    assert client.get("/")["Location"].startswith("/login/")
    assert client.post(f"/inbox/c/{world.conversations['sales'].id}/send", {"text": "x"}).status_code == 302


def test_media_previews_and_downloads_only_for_those_who_may_see_them(world, as_user):
    from django.core.files.base import ContentFile

    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000000000200015e2b4f0a0000000049454e44ae426082"
    )
    support = world.conversations["support"]
    with schema_context("alpha"):
        image = Message(
            conversation=support,
            channel=world.channel,
            direction="inbound",
            kind="image",
            body="the damaged box",
            status="received",
            sender_kind="contact",
            media_mime_type="image/png",
        )
        image.media_file.save("box.png", ContentFile(png), save=False)
        image.save()
        document = Message(
            conversation=support,
            channel=world.channel,
            direction="inbound",
            kind="document",
            status="received",
            sender_kind="contact",
            media_mime_type="application/pdf",
            payload={"media": {"filename": "invoice.pdf", "caption": ""}},
        )
        document.media_file.save("invoice.pdf", ContentFile(b"%PDF-1.4"), save=False)
        document.save()
        location = Message.objects.create(
            conversation=support,
            channel=world.channel,
            direction="inbound",
            kind="location",
            status="received",
            sender_kind="contact",
            payload={"location": {"latitude": 48.85, "longitude": 2.35, "name": "Shop", "address": "Paris"}},
        )
    client = as_user(owner())
    html = client.get(f"/inbox/c/{support.id}/thread").content.decode()
    assert f'<img src="/inbox/m/{image.id}/media"' in html
    assert f'href="/inbox/m/{document.id}/media" download>📄 invoice.pdf' in html
    assert "openstreetmap.org/?mlat=48.85" in html and location.id
    served = client.get(f"/inbox/m/{image.id}/media")
    assert served["Content-Type"] == "image/png" and b"".join(served.streaming_content) == png
    assert "attachment" in client.get(f"/inbox/m/{document.id}/media")["Content-Disposition"]
    assert as_user(world.agent).get(f"/inbox/m/{image.id}/media").status_code == 404
    with schema_context("alpha"):
        image.media_file.delete(save=False)
        document.media_file.delete(save=False)


def test_an_attachment_is_uploaded_to_the_provider_and_sent(world, as_user, sandbox):
    import httpx
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.channels_wa.webhooks import make_channel
    from tests.helpers import unique

    number_id = unique("6")
    channel = make_channel("alpha", external_id=number_id, api_base_url=sandbox.base_url)
    httpx.put(
        f"{sandbox.base_url}/_sandbox/numbers/{number_id}",
        json={"display_phone_number": "+15550000001", "access_token": "test-token", "app_secret": "s"},
    ).raise_for_status()
    with schema_context("alpha"):
        conversation = make_conversation(channel, name="Fay File", phone="+15550003003")
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", content_type="application/pdf")
    response = as_user(owner()).post(
        f"/inbox/c/{conversation.id}/send", {"text": "Your receipt", "attachment": upload}, **FETCH
    )
    assert response.status_code == 201, response.content
    with schema_context("alpha"):
        message = Message.objects.get(pk=response.json()["message_id"])
    assert (message.kind, message.body, message.payload["filename"]) == (
        "document",
        "Your receipt",
        "receipt.pdf",
    )
    assert message.media_provider_id
    closed = world.conversations["closed"]
    refused = as_user(owner()).post(
        f"/inbox/c/{closed.id}/send",
        {"attachment": SimpleUploadedFile("a.png", b"x", content_type="image/png")},
        **FETCH,
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "window_closed"


@pytest.mark.parametrize("exact_limit", [1000, 1], ids=["by-ids", "too-many-ids"])
def test_search_finds_matches_beyond_the_newest_conversations(world, as_user, monkeypatch, exact_limit):
    from dashboard import selectors

    monkeypatch.setattr(selectors, "SEARCH_PROBE_WINDOW", 2)  # the old match lies outside the probed window
    monkeypatch.setattr(selectors, "SEARCH_EXACT_LIMIT", exact_limit)  # 1: as if the text were common
    client = as_user(owner())
    c = world.conversations
    assert row_ids(client.get("/inbox/rows?q=Old question&status=").content.decode()) == [c["closed"].id]
    assert row_ids(client.get("/inbox/rows?q=Price of the red&status=").content.decode()) == [c["sales"].id]
    assert row_ids(client.get("/inbox/rows?q=carl clo&status=").content.decode()) == [c["closed"].id]
    assert row_ids(client.get("/inbox/rows?q=555-0001-005&status=").content.decode()) == [c["closed"].id]
    agent = as_user(world.agent)  # the fallback keeps to what the agent may see
    assert row_ids(agent.get("/inbox/rows?q=My order is broken&status=").content.decode()) == []
    assert row_ids(agent.get("/inbox/rows?q=Old question&status=").content.decode()) == [c["closed"].id]
    live = client.get(f"/inbox/rows?q=red shoes&ids={c['sales'].id},{c['queue'].id}").content.decode()
    assert row_ids(live) == [c["sales"].id]  # a live refresh keeps the search
