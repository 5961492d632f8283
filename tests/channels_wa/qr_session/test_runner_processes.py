"""Several runner processes share the sessions through database leases: each session runs in exactly
one runner, a new runner gets its share, a killed runner's sessions move after the lease expires, and
outbound messages (from a real Celery worker) reach whichever runner holds the session."""

from __future__ import annotations

import signal
import sys
import time

import pytest
from django_tenants.utils import schema_context

from core.redis import get_redis
from tests.channels_wa.qr_session import fake_connection as fake
from tests.channels_wa.qr_session.runner_helpers import (
    FAST,
    qr_channel_create,
    qr_channels_delete,
    session_of,
    wait_for,
)
from tests.conftest import _test_process_env, start_process


def start_runner(name: str):
    env = _test_process_env(**{key: str(value) for key, value in FAST.items()})
    proc, log_path = start_process(
        [sys.executable, "manage.py", "run_wa_sessions", "--runner-id", name], env, f"qr-runner-{name}"
    )
    return proc, log_path


def holders(channels) -> dict[int, str]:
    from tenants.models import QRSessionLease

    routes = {c.external_id: c.id for c in channels}
    held = {}
    for lease in QRSessionLease.objects.select_related("route").filter(route__external_id__in=routes):
        if lease.runner_id:
            held[routes[lease.route.external_id]] = lease.runner_id
    return held


@pytest.fixture
def four_channels(committed_db):
    channels = [qr_channel_create(f"Shared {n}") for n in range(4)]
    get_redis().delete(fake.VIOLATIONS_KEY)
    yield channels
    qr_channels_delete(*channels)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


def test_two_runners_share_fail_over_and_route_sends(four_channels, celery_worker_process):
    from inbox.models import Message
    from inbox.services import message_send_to_phone

    channels = four_channels
    runner_a, _ = start_runner("A")
    runner_b = None
    try:
        wait_for(
            lambda: len(holders(channels)) == 4 and set(holders(channels).values()) == {"A"},
            20,
            "A holds all",
        )
        wait_for(lambda: all(session_of(c).state == "pending" for c in channels), 20, "QR codes shown")

        runner_b, _ = start_runner("B")
        # B joins: A hands over its extra sessions, B picks them up; nobody runs a session twice.
        wait_for(lambda: sorted(holders(channels).values()) == ["A", "A", "B", "B"], 20, "rebalanced 2/2")
        wait_for(lambda: all(session_of(c).state == "pending" for c in channels), 20, "all pending again")
        for channel in channels:
            fake.push_event(channel.external_id, "scan")
        wait_for(lambda: all(session_of(c).state == "ready" for c in channels), 20, "all ready")

        # Outbound: the API/inbox service queues, the Celery worker hands it to the holding runner.
        pids = {"A": runner_a.pid, "B": runner_b.pid}
        with schema_context("alpha"):
            messages = [
                message_send_to_phone(channel=c, phone=f"+1555333000{n}", text=f"Hello {n}")
                for n, c in enumerate(channels)
            ]
            for message in messages:
                wait_for(
                    lambda m=message: Message.objects.get(pk=m.pk).status == "sent",
                    30,
                    f"message {message.pk} sent",
                )
        held = holders(channels)
        for channel, message in zip(channels, messages, strict=True):
            sent = fake.sent_messages(channel.external_id)
            assert [s["text"] for s in sent] == [message.body]
            assert sent[0]["pid"] == pids[held[channel.id]]  # sent by the runner that holds the session
            with schema_context("alpha"):
                assert Message.objects.get(pk=message.pk).provider_message_id == sent[0]["id"]

        # Kill A without warning: its sessions move to B once the lease (2 s) expires.
        killed_at = time.monotonic()
        runner_a.send_signal(signal.SIGKILL)
        runner_a.wait(timeout=10)
        wait_for(lambda: set(holders(channels).values()) == {"B"}, 20, "B holds all after failover")
        wait_for(lambda: all(session_of(c).state == "ready" for c in channels), 20, "ready again on B")
        failover_s = time.monotonic() - killed_at
        assert failover_s < FAST["QR_LEASE_TTL_S"] + 5
        # The moved sessions reconnected from their stored keys: no new QR code was needed.
        assert all(session_of(c).qr_code == "" for c in channels)
        assert int(get_redis().get(fake.VIOLATIONS_KEY) or 0) == 0
    finally:
        _stop(runner_a)
        if runner_b is not None:
            _stop(runner_b)
    # A clean stop gives the leases back at once.
    assert holders(channels) == {}
