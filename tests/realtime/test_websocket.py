"""The `/ws/` endpoint against a real channel layer on Redis, with sessions in real tenant schemas."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django_tenants.utils import schema_context

from accounts.models import User
from accounts.services import SESSION_SCHEMA_KEY
from config.asgi import application
from core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_SUSPENDED, CLOSE_UNKNOWN_COMPANY
from core.realtime import broadcast_on_commit, company_group, send_now
from tests.helpers import staff_socket


@pytest.fixture
def alpha_session(committed_db):
    with schema_context("alpha"):
        user = User.objects.get(email="owner@alpha.test")
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[SESSION_SCHEMA_KEY] = "alpha"
        store.create()
    yield store.session_key
    with schema_context("alpha"):
        SessionStore(store.session_key).delete()


def connect(host: str, session_key: str | None = None, origin: str | None = None):
    headers = [(b"host", host.encode())]
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    if origin:
        headers.append((b"origin", origin.encode()))

    async def run():
        communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        first = await communicator.receive_output(timeout=5)
        # End the socket as a browser does, so the consumer stops on its own instead of being cancelled
        # in the middle of its channel-layer read when the event loop closes.
        await communicator.disconnect()
        return first

    return async_to_sync(run)()


def close_code(first_message) -> int | None:
    return first_message.get("code") if first_message["type"] == "websocket.close" else None


def test_staff_user_connects_and_receives_company_events(alpha_session):
    async def scenario():
        communicator = staff_socket(alpha_session, origin="http://alpha.localhost:8000")
        connected, _ = await communicator.connect()
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        assert hello["type"] == "hello" and hello["payload"]["company"] == "alpha"

        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=5)) == {"type": "pong"}

        from channels.db import database_sync_to_async

        await database_sync_to_async(send_now)(
            "conversation.updated", {"id": 7, "status": "resolved"}, [company_group("alpha")]
        )
        event = await communicator.receive_json_from(timeout=5)
        assert event == {"type": "conversation.updated", "payload": {"id": 7, "status": "resolved"}}

        # another company's events never reach this socket
        await database_sync_to_async(send_now)(
            "conversation.updated", {"id": 8, "status": "open"}, [company_group("beta")]
        )
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_session_of_company_a_is_refused_on_company_b_host(alpha_session):
    first = connect("beta.localhost", alpha_session)
    assert close_code(first) == CLOSE_NOT_AUTHENTICATED


def test_anonymous_socket_is_closed_with_a_reason(committed_db):
    first = connect("alpha.localhost")
    assert close_code(first) == CLOSE_NOT_AUTHENTICATED


def test_unknown_host_and_platform_host_are_refused(alpha_session):
    assert close_code(connect("nobody.localhost", alpha_session)) == CLOSE_UNKNOWN_COMPANY
    assert close_code(connect("localhost", alpha_session)) == CLOSE_UNKNOWN_COMPANY


def test_cross_site_origin_is_refused(alpha_session):
    first = connect("alpha.localhost", alpha_session, origin="http://evil.example")
    assert close_code(first) == CLOSE_FORBIDDEN


def test_suspended_company_socket_is_closed(alpha_session):
    from tenants.models import Company

    Company.objects.filter(schema_name="alpha").update(status="suspended")
    try:
        first = connect("alpha.localhost", alpha_session)
        assert close_code(first) == CLOSE_SUSPENDED
    finally:
        Company.objects.filter(schema_name="alpha").update(status="active")


def test_broadcast_on_commit_sends_only_after_commit(alpha, django_capture_on_commit_callbacks):
    from tests.helpers import capture_realtime_events

    with capture_realtime_events() as sent:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            broadcast_on_commit(
                "message.created",
                {"id": 1, "conversation_id": 2, "direction": "inbound", "status": "received"},
            )
        assert sent == []
        for callback in callbacks:
            callback()
    assert sent == [
        (
            "message.created",
            {"id": 1, "conversation_id": 2, "direction": "inbound", "status": "received"},
            ["public.company"],
        )
    ]


def test_a_burst_of_events_is_sent_whole_and_in_order(caplog):
    """Hundreds of events at once (a busy API) reach the channel layer in order; none is dropped for want of
    a Redis connection (the sender sends one at a time on its own loop)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group = "test-burst.company"

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    channel = async_to_sync(listen)()
    for number in range(300):  # a group nobody listens to: only the member lookup, 300 times at once
        send_now("conversation.updated", {"id": number, "status": "open"}, ["test-burst.nobody"])
    for number in range(60):
        send_now("conversation.updated", {"id": number, "status": "open"}, [group])

    try:
        ids = [event["payload"]["id"] for event in _received(layer, channel, 60)[0]]
        assert ids == list(range(60))
    finally:
        async_to_sync(layer.group_discard)(group, channel)
    assert "not sent" not in caplog.text and "dropped" not in caplog.text


def _received(layer, channel: str, count: int) -> tuple[list[dict], list[dict]]:
    """(`count` events, the channel-layer messages that carried them) from a channel, batches unpacked."""
    import asyncio

    async def receive():
        events, messages = [], []
        while len(events) < count:
            message = await asyncio.wait_for(layer.receive(channel), timeout=10)
            messages.append(message)
            events.extend(message["events"] if message["type"] == "realtime.batch" else [message])
        return events, messages

    return async_to_sync(receive)()


def _sender_paused(seconds: float) -> None:
    """Hold the sender's loop busy, so that events submitted meanwhile queue up together."""
    import threading
    import time

    from core.realtime import _sender

    started = threading.Event()

    def hold():
        started.set()
        time.sleep(seconds)

    _sender._running_loop().call_soon_threadsafe(hold)
    assert started.wait(5)


def test_events_that_queued_up_go_out_in_one_message_per_group_in_order():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    company, user = "test-batch.company", "test-batch.user.1"

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add(company, channel)
        await layer.group_add(user, channel)
        return channel

    channel = async_to_sync(listen)()
    try:
        _sender_paused(0.3)
        for number in range(10):
            send_now("conversation.updated", {"id": number, "status": "open"}, [company])
        send_now("user.access_changed", {"user_id": 1}, [user])
        for number in range(10, 20):
            send_now("conversation.updated", {"id": number, "status": "open"}, [company])
        events, messages = _received(layer, channel, 21)
    finally:
        async_to_sync(layer.group_discard)(company, channel)
        async_to_sync(layer.group_discard)(user, channel)
    # Every event once, in the order emitted: the user's event stays between the company's two runs.
    assert [e["payload"].get("id", "user") for e in events] == [*range(10), "user", *range(10, 20)]
    assert [m["type"] for m in messages] == [
        "realtime.batch",
        "realtime.event",
        "realtime.batch",
    ]


def test_a_socket_hears_each_event_of_a_batch(alpha_session):
    async def scenario():
        from channels.db import database_sync_to_async

        communicator = staff_socket(alpha_session, origin="http://alpha.localhost:8000")
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"

        def burst():
            _sender_paused(0.2)
            for number in range(5):
                send_now("conversation.updated", {"id": number, "status": "open"}, [company_group("alpha")])
            send_now("conversation.updated", {"id": 99, "status": "open"}, [company_group("beta")])

        await database_sync_to_async(burst)()
        received = [await communicator.receive_json_from(timeout=5) for _ in range(5)]
        assert received == [
            {"type": "conversation.updated", "payload": {"id": number, "status": "open"}}
            for number in range(5)
        ]
        assert await communicator.receive_nothing(timeout=0.5)  # beta's event never reaches alpha's socket
        await communicator.disconnect()

    async_to_sync(scenario)()
