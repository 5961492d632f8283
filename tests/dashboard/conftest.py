"""A small inbox in company alpha: two departments, an agent in one of them, conversations in each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Department, User
from inbox.models import Contact, Conversation, Message
from tests.channels_wa.webhooks import make_channel
from tests.factories import UserFactory
from tests.helpers import host_client, login, unique


@dataclass
class InboxWorld:
    channel: object
    sales: Department
    support: Department
    agent: User
    other_agent: User
    manager: User
    conversations: dict = field(default_factory=dict)


def make_conversation(
    channel,
    *,
    name: str,
    phone: str,
    department=None,
    assignee=None,
    text="Hello",
    minutes_ago=1,
    window_open=True,
) -> Conversation:
    now = timezone.now()
    contact = Contact.objects.create(name=name, phone=phone, whatsapp_id=phone.lstrip("+"))
    conversation = Conversation.objects.create(
        contact=contact,
        channel=channel,
        department=department,
        assignee=assignee,
        last_message_at=now - timedelta(minutes=minutes_ago),
        last_message_preview=text,
        last_inbound_at=now - timedelta(minutes=minutes_ago),
        window_expires_at=now + timedelta(hours=23) if window_open else now - timedelta(hours=1),
        unread_count=1,
    )
    Message.objects.create(
        conversation=conversation,
        channel=channel,
        direction="inbound",
        body=text,
        status="received",
        sender_kind="contact",
        provider_message_id=unique("wamid."),
    )
    return conversation


@pytest.fixture
def world(alpha) -> InboxWorld:
    channel = make_channel("alpha", external_id=unique("9"))
    with schema_context("alpha"):
        sales = Department.objects.create(name=unique("Sales "))
        support = Department.objects.create(name=unique("Support "))
        agent = UserFactory(email=unique("agent") + "@alpha.test", role="agent")
        other_agent = UserFactory(email=unique("agent") + "@alpha.test", role="agent")
        manager = UserFactory(email=unique("manager") + "@alpha.test", role="manager")
        sales.members.add(agent)
        support.members.add(other_agent)
        world = InboxWorld(channel, sales, support, agent, other_agent, manager)
        world.conversations = {
            "sales": make_conversation(
                channel,
                name="Sally Sales",
                phone="+15550001001",
                department=sales,
                text="Price of the red shoes?",
            ),
            "support": make_conversation(
                channel,
                name="Sam Support",
                phone="+15550001002",
                department=support,
                text="My order is broken",
                minutes_ago=2,
            ),
            "queue": make_conversation(
                channel, name="Quinn Queue", phone="+15550001003", text="Anyone there?", minutes_ago=3
            ),
            "mine": make_conversation(
                channel,
                name="Mina Mine",
                phone="+15550001004",
                department=support,
                assignee=agent,
                text="Thanks Andy",
                minutes_ago=4,
            ),
            "closed": make_conversation(
                channel,
                name="Carl Closed",
                phone="+15550001005",
                department=sales,
                text="Old question",
                minutes_ago=60 * 30,
                window_open=False,
            ),
        }
    return world


@pytest.fixture
def as_user(alpha):
    """A logged-in test client on alpha's host for any user of alpha."""

    def client_for(user):
        client = host_client("alpha.localhost")
        response = login(client, "alpha.localhost", user.email)
        assert response.status_code == 302, response.content
        return client

    return client_for
