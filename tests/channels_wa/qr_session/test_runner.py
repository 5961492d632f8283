"""The session runner, for real, with WhatsApp's side replaced at client.py's boundary by the fake
connection: QR → scan → ready, inbound messages stored, sends routed over Redis, restart without a new
scan, logout, and one broken session never taking the others down."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context
from neonize.proto import Neonize_pb2 as neonize_proto
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from channels_wa.providers.qr_session.routing import runner_call
from core.redis import get_redis
from tests.channels_wa.qr_session import fake_connection as fake
from tests.channels_wa.qr_session.runner_helpers import (
    FAST,
    RunnerThread,
    qr_channel_create,
    qr_channels_delete,
    session_of,
    wait_for,
)


@pytest.fixture
def fast_runner_settings(settings, committed_db):
    for name, value in FAST.items():
        setattr(settings, name, value)
    return settings


def inbound(text: str, message_id: str) -> neonize_proto.Message:
    sender = neonize_proto.JID(User="15551112222", Server="s.whatsapp.net")
    info = neonize_proto.MessageInfo(
        MessageSource=neonize_proto.MessageSource(Chat=sender, Sender=sender),
        ID=message_id,
        Pushname="Customer",
        Timestamp=1_760_000_000,
    )
    return neonize_proto.Message(Info=info, Message=e2e.Message(conversation=text))


def test_qr_scan_ready_inbound_send_and_restart_without_a_new_scan(fast_runner_settings):
    from channels_wa.models import QRSessionTransition
    from inbox.models import Message

    channel = qr_channel_create("Runner test")
    key = channel.external_id
    try:
        with RunnerThread("runner-a"):
            session = wait_for(lambda: (s := session_of(channel)).qr_code and s, what="a QR code")
            assert session.state == "pending" and session.qr_code.startswith("2@fake-")
            fake.push_event(key, "scan")
            session = wait_for(lambda: (s := session_of(channel)).state == "ready" and s, what="ready")
            assert session.device_jid == "15550009999@s.whatsapp.net"
            fake.push_event(key, inbound("Do you deliver?", "3EB0IN1"))
            with schema_context("alpha"):
                stored = wait_for(
                    lambda: Message.objects.filter(provider_message_id="3EB0IN1").first(), what="inbound"
                )
                assert (
                    stored.body == "Do you deliver?" and stored.conversation.contact.phone == "+15551112222"
                )
            with schema_context("alpha"):
                reply = runner_call(
                    schema_name="alpha",
                    channel_id=channel.id,
                    op="send",
                    payload={
                        "message": {"to": "+15551112222", "kind": "text", "text": "Yes!", "client_ref": "m1"}
                    },
                )
            assert reply.ok and reply.data["provider_message_id"].startswith("3EB0")
            assert [m["text"] for m in fake.sent_messages(key)] == ["Yes!"]
            typing = get_redis().lrange(fake.key(key, "typing"), 0, -1)
            assert len(typing) == 2  # composing, then paused, before the send
            # The same message asked again (a retried task) is not sent twice.
            with schema_context("alpha"):
                again = runner_call(
                    schema_name="alpha",
                    channel_id=channel.id,
                    op="send",
                    payload={
                        "message": {"to": "+15551112222", "kind": "text", "text": "Yes!", "client_ref": "m1"}
                    },
                )
            assert again.data["provider_message_id"] == reply.data["provider_message_id"]
            assert len(fake.sent_messages(key)) == 1
        assert session_of(channel).state == "not_started"  # stopped cleanly, leases given back
        with RunnerThread("runner-b"):
            session = wait_for(lambda: (s := session_of(channel)).state == "ready" and s, what="ready again")
        with schema_context("alpha"):
            moves = list(
                QRSessionTransition.objects.filter(session__channel_id=channel.id).values_list(
                    "to_state", flat=True
                )
            )
        # The second start reconnected from the stored keys: no QR code, no pending.
        assert moves == [
            "pending",
            "authenticated",
            "ready",
            "not_started",
            "authenticated",
            "ready",
            "not_started",
        ]
    finally:
        qr_channels_delete(channel)


def test_one_broken_session_does_not_take_the_others_down(fast_runner_settings):
    good, broken = qr_channel_create("Good"), qr_channel_create("Broken")
    get_redis().set(fake.key(broken.external_id, "fail_start"), "1")
    try:
        with RunnerThread("runner-c"):
            wait_for(lambda: session_of(good).state == "pending", what="good session pending")
            broken_session = wait_for(
                lambda: (s := session_of(broken)).state == "disconnected" and s, what="broken disconnected"
            )
            assert "ConnectionError" in broken_session.state_reason
            fake.push_event(good.external_id, "scan")
            wait_for(lambda: session_of(good).state == "ready", what="good session ready")
            # The broken one keeps retrying, with growing pauses (base 0.2 s, cap 1 s), not in a loop.
            get_redis().delete(fake.key(broken.external_id, "fail_start"))
            wait_for(lambda: session_of(broken).state == "pending", what="broken session recovered")
    finally:
        qr_channels_delete(good, broken)


def test_logout_is_shown_and_not_retried_until_linked_again(fast_runner_settings):
    channel = qr_channel_create("Logout")
    key = channel.external_id
    try:
        with RunnerThread("runner-d"):
            wait_for(lambda: session_of(channel).state == "pending", what="pending")
            fake.push_event(key, "scan")
            wait_for(lambda: session_of(channel).state == "ready", what="ready")
            fake.push_event(
                key, neonize_proto.LoggedOut(Reason=neonize_proto.ConnectFailureReason.LOGGED_OUT)
            )
            session = wait_for(
                lambda: (s := session_of(channel)).state == "logged_out" and s, what="logged out"
            )
            assert "Logged out" in session.state_reason and session.device_jid == ""
            import time

            time.sleep(1.0)
            assert int(get_redis().get(fake.key(key, "starts"))) == 1  # no reconnect after a logout
            with schema_context("alpha"):
                assert runner_call(schema_name="alpha", channel_id=channel.id, op="restart", payload={}).ok
            wait_for(lambda: session_of(channel).state == "pending", what="a new QR code")
    finally:
        qr_channels_delete(channel)


def test_deleting_a_hosted_channel_stops_its_session_and_nothing_else(fast_runner_settings):
    from channels_wa.services import channel_delete

    keep, gone = qr_channel_create("Keep"), qr_channel_create("Gone")
    try:
        with RunnerThread("runner-e") as runner:
            wait_for(
                lambda: session_of(keep).state == "pending" and session_of(gone).state == "pending",
                what="both",
            )
            with schema_context("alpha"):
                channel_delete(channel=gone)
            wait_for(lambda: len(runner.sessions) == 1, what="the deleted channel's session stopped")
            wait_for(
                lambda: not get_redis().hexists(fake.HOLDERS_KEY, gone.external_id), what="connection closed"
            )
            fake.push_event(keep.external_id, "scan")
            wait_for(lambda: session_of(keep).state == "ready", what="the other session carries on")
    finally:
        qr_channels_delete(keep)


def test_received_files_are_downloaded_through_the_holding_runner(fast_runner_settings):
    from inbox.models import Message

    channel = qr_channel_create("Media")
    try:
        with RunnerThread("runner-f"):
            wait_for(lambda: session_of(channel).state == "pending", what="pending")
            fake.push_event(channel.external_id, "scan")
            wait_for(lambda: session_of(channel).state == "ready", what="ready")
            event = inbound("", "3EB0IMG1")
            event.Message.Clear()
            event.Message.imageMessage.CopyFrom(e2e.ImageMessage(mimetype="image/jpeg", caption="my receipt"))
            fake.push_event(channel.external_id, event)
            with schema_context("alpha"):
                message = wait_for(
                    lambda: (
                        Message.objects.filter(provider_message_id="3EB0IMG1").exclude(media_file="").first()
                    ),
                    what="the file stored",
                )
                assert message.kind == "image" and message.body == "my receipt"
                assert message.media_file.read() == b"fake file for my receipt"
                assert message.media_error == ""
    finally:
        qr_channels_delete(channel)


def test_a_send_over_the_daily_cap_waits_instead_of_failing(fast_runner_settings):
    """Pacing holds the message back (queued, retried when the cap resets) even on its last attempt."""
    from datetime import UTC, datetime

    from channels_wa.providers.qr_session.client import message_to_inbound
    from channels_wa.providers.qr_session.pacing import PacingPolicy, PacingState
    from channels_wa.providers.qr_session.services import pacing_key, qr_inbound_apply
    from inbox.models import Conversation, Message
    from inbox.services import DeliveryOutcome, message_deliver

    channel = qr_channel_create("Capped")
    state = None
    try:
        with RunnerThread("runner-g"):
            wait_for(lambda: session_of(channel).state == "pending", what="pending")
            fake.push_event(channel.external_id, "scan")
            wait_for(lambda: session_of(channel).state == "ready", what="ready")
            with schema_context("alpha"):
                qr_inbound_apply(
                    channel=channel, event=message_to_inbound(inbound("hi", "3EB0CAP"), external_id="x")
                )
                conversation = Conversation.objects.get(channel=channel)
                message = Message.objects.create(
                    conversation=conversation,
                    channel=channel,
                    direction="outbound",
                    kind="text",
                    body="offer",
                    status="queued",
                )
                state = PacingState(key=pacing_key(channel.id))
                policy = PacingPolicy.for_session(session_of(channel))
                for n in range(20):  # a new number's first-day cap
                    state.record_send(policy, to=f"+1555200{n:04d}", at=datetime.now(tz=UTC))
                outcome, error = message_deliver(message_id=message.id, is_last_attempt=True)
                assert outcome == DeliveryOutcome.RETRY and error.code == "paced"
                assert error.retry_after_s > 0 and "daily_cap:20" in error.title
                message.refresh_from_db()
                assert message.status == "queued"
                assert fake.sent_messages(channel.external_id) == []
    finally:
        if state is not None:
            for key in get_redis().scan_iter(f"qr:pacing:{state.key}:*"):
                get_redis().delete(key)
        qr_channels_delete(channel)
