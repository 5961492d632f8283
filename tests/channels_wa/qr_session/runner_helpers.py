from __future__ import annotations

import threading
import time

from django.db import connections
from django_tenants.utils import schema_context

FAKE = "tests.channels_wa.qr_session.fake_connection.FakeConnection"
FAST = {
    "QR_SESSION_CONNECTION": FAKE,
    "QR_LEASE_TTL_S": 2.0,
    "QR_HEARTBEAT_S": 0.3,
    "QR_BACKOFF_BASE_S": 0.2,
    "QR_BACKOFF_CAP_S": 1.0,
    "QR_RECONNECTS_PER_S": 50.0,
    "QR_PACING_SCALE": 0.01,
    "QR_SEND_TIMEOUT_S": 10.0,
}


def wait_for(predicate, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def session_of(channel):
    from channels_wa.models import QRSession

    with schema_context("alpha"):
        return QRSession.objects.get(channel_id=channel.id)


class RunnerThread:
    """A real Runner in a thread of the test process."""

    def __init__(self, runner_id: str):
        from channels_wa.providers.qr_session.runner import Runner

        self.runner = Runner(runner_id=runner_id)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.runner.run()
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        return self.runner

    def __exit__(self, *exc):
        self.runner.stopping.set()
        self.thread.join(timeout=30)


def qr_channel_create(name: str):
    from channels_wa.services import channel_create
    from tests.helpers import unique

    with schema_context("alpha"):
        return channel_create(provider="qr_session", name=name, external_id=unique("qr-"))


def qr_channels_delete(*channels):
    from channels_wa.models import Channel
    from core.redis import get_redis
    from inbox.models import Contact
    from tenants.models import ChannelRoute, QRRunner

    with schema_context("alpha"):
        for channel in channels:
            Contact.objects.filter(conversations__channel_id=channel.id).delete()
            Channel.objects.filter(pk=channel.pk).delete()
    ChannelRoute.objects.filter(external_id__in=[c.external_id for c in channels]).delete()
    QRRunner.objects.all().delete()
    redis = get_redis()
    for channel in channels:
        for key in redis.scan_iter(f"fake-wa:{channel.external_id}:*"):
            redis.delete(key)
    redis.delete("fake-wa:holders")
