"""An agent's WebSocket only carries the events of conversations the agent may open."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django_tenants.utils import schema_context

from accounts.models import Department, User
from accounts.services import SESSION_SCHEMA_KEY
from core.realtime import company_group, send_now
from inbox.models import Contact, Conversation
from tests.channels_wa.webhooks import make_channel
from tests.helpers import PASSWORD, staff_socket, unique


def session_for(user) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[SESSION_SCHEMA_KEY] = "alpha"
    store.create()
    return store.session_key


def test_agents_hear_only_their_conversations(committed_db):
    from channels_wa.services import channel_delete

    channel = make_channel("alpha", external_id=unique("8"))
    with schema_context("alpha"):
        sales, support = (
            Department.objects.create(name=unique("S")),
            Department.objects.create(name=unique("T")),
        )
        agent = User.objects.create_user(unique("ws") + "@alpha.test", PASSWORD, role="agent")
        sales.members.add(agent)
        contacts = [
            Contact.objects.create(phone=f"+1555222{n:04d}", whatsapp_id=unique("w")) for n in range(2)
        ]
        visible = Conversation.objects.create(contact=contacts[0], channel=channel, department=sales)
        hidden = Conversation.objects.create(contact=contacts[1], channel=channel, department=support)
        session_key = session_for(agent)

    def conversation_event(conversation, department_id):
        return {
            "id": conversation.id,
            "status": "open",
            "department_id": department_id,
            "assignee_id": None,
            "contact_id": 1,
        }

    def message_event(conversation):
        return {"id": 1, "conversation_id": conversation.id, "direction": "inbound", "status": "received"}

    async def scenario():
        communicator = staff_socket(session_key)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        group = [company_group("alpha")]
        send = database_sync_to_async(send_now)
        await send("message.created", message_event(hidden), group)
        await send("conversation.updated", conversation_event(hidden, support.id), group)
        await send("message.created", message_event(visible), group)
        received = await communicator.receive_json_from(timeout=5)
        assert received["payload"]["conversation_id"] == visible.id  # the hidden ones never came
        await send("conversation.updated", conversation_event(visible, sales.id), group)
        assert (await communicator.receive_json_from(timeout=5))["payload"]["id"] == visible.id
        # moved to another department: announced by id alone, then silence
        await send("conversation.updated", conversation_event(visible, support.id), group)
        assert (await communicator.receive_json_from(timeout=5))["payload"] == {
            "id": visible.id,
            "status": "open",
        }
        await send("message.created", message_event(visible), group)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    try:
        async_to_sync(scenario)()
    finally:
        with schema_context("alpha"):
            SessionStore(session_key).delete()
            channel_delete(channel=channel)
            Contact.objects.filter(pk__in=[c.pk for c in contacts]).delete()
            agent.delete()
            sales.delete()
            support.delete()


def test_an_agent_added_to_a_department_hears_its_conversations_at_once(committed_db):
    from accounts.services import department_update
    from channels_wa.services import channel_delete

    channel = make_channel("alpha", external_id=unique("8"))
    with schema_context("alpha"):
        support = Department.objects.create(name=unique("T"))
        agent = User.objects.create_user(unique("ws") + "@alpha.test", PASSWORD, role="agent")
        contact = Contact.objects.create(phone="+15552229999", whatsapp_id=unique("w"))
        conversation = Conversation.objects.create(contact=contact, channel=channel, department=support)
        session_key = session_for(agent)
    event = {
        "id": conversation.id,
        "status": "open",
        "department_id": support.id,
        "assignee_id": None,
        "contact_id": contact.id,
    }

    def join_support():
        with schema_context("alpha"):
            department_update(department=support, name=support.name, member_ids=[agent.id])

    async def scenario():
        communicator = staff_socket(session_key)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        send = database_sync_to_async(send_now)
        await send("conversation.updated", event, [company_group("alpha")])
        assert await communicator.receive_nothing(timeout=0.5)  # not in support yet
        await database_sync_to_async(join_support)()
        changed = await communicator.receive_json_from(timeout=5)
        assert changed == {"type": "user.access_changed", "payload": {"user_id": agent.id}}
        await send("conversation.updated", event, [company_group("alpha")])
        assert (await communicator.receive_json_from(timeout=5))["payload"]["id"] == conversation.id
        await communicator.disconnect()

    try:
        async_to_sync(scenario)()
    finally:
        with schema_context("alpha"):
            SessionStore(session_key).delete()
            channel_delete(channel=channel)
            contact.delete()
            agent.delete()
            support.delete()
