"""Campaign tests run against the WhatsApp sandbox (in this process) and real Celery workers."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest
from django_tenants.utils import schema_context

from config.celery import app as celery_app
from tests.conftest import _test_process_env, _wait_for, start_process

TEMPLATE = {
    "name": "spring_sale",
    "language": "en_US",
    "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hi {{1}}, our spring sale is on: {{2}}"}],
}
_numbers = itertools.count(1)


def wait_for(predicate, what: str, timeout_s: float = 30, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Wired:
    channel: object
    sandbox: object
    number_id: str

    def sent(self) -> list[dict]:
        return httpx.get(f"{self.sandbox.base_url}/_sandbox/sent", params={"number": self.number_id}).json()[
            "data"
        ]

    def sent_per_customer(self) -> Counter:
        return Counter(m["wa_id"] for m in self.sent())

    def configure(self, **config) -> None:
        httpx.put(f"{self.sandbox.base_url}/_sandbox/config", json=config).raise_for_status()


def make_channel(
    sandbox, *, schema: str = "alpha", rate_per_s: int = 80, sandbox_rate_per_s: int | None = None
):
    from channels_wa.models import Channel
    from channels_wa.services import channel_create

    number_id = f"4{os.getpid() % 100000:05d}{next(_numbers):06d}"
    with schema_context(schema):
        channel = channel_create(
            provider="sandbox",
            name=f"Campaign sandbox {number_id}",
            external_id=number_id,
            phone_number=f"+1555{number_id[-7:]}",
            account_id=f"waba-{number_id}",
            access_token="campaign-token",
            app_secret="campaign-secret",
            api_base_url=sandbox.base_url,
            rate_per_s=sandbox_rate_per_s or rate_per_s,
        )
        if sandbox_rate_per_s:  # the sandbox enforces one rate while the channel believes another
            Channel.objects.filter(pk=channel.pk).update(rate_per_s=rate_per_s)
            channel.refresh_from_db()
    httpx.put(f"{sandbox.base_url}/_sandbox/templates/waba-{number_id}", json=TEMPLATE).raise_for_status()
    return channel


def make_contacts(n: int, *, schema: str = "alpha", tag: str, prefix: str = "447", **extra) -> list:
    from inbox.models import Contact

    base = next(_numbers) * 10_000 + (os.getpid() % 100) * 1_000_000
    with schema_context(schema):
        return Contact.objects.bulk_create(
            [
                Contact(
                    phone=f"+{prefix}{base + i:09d}",
                    whatsapp_id=f"{prefix}{base + i:09d}",
                    name=f"Customer{i} Test",
                    tags=[tag],
                    **extra,
                )
                for i in range(n)
            ]
        )


@dataclass(frozen=True)
class SandboxProcess:
    base_url: str


@pytest.fixture(scope="session")
def sandbox_process():
    """The sandbox in its own process, as in production: its clock (it counts sends per second, as Meta
    does) does not wait for this test process's threads."""
    from tests.helpers import free_port

    port = free_port()
    proc, log_path = start_process(
        [sys.executable, "-m", "channels_wa.sandbox", "--port", str(port)], _test_process_env(), "sandbox"
    )
    base_url = f"http://127.0.0.1:{port}"

    def is_ready() -> bool:
        try:
            return httpx.get(f"{base_url}/_sandbox/config", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(proc, is_ready, "the sandbox", log_path)
    yield SandboxProcess(base_url=base_url)
    proc.terminate()
    proc.wait(timeout=10)


def cleanup(schema: str, channel, tag: str) -> None:
    from campaigns.models import Campaign
    from channels_wa.services import channel_delete
    from inbox.models import Contact

    with schema_context(schema):
        Campaign.objects.filter(channel=channel).delete()
        channel_delete(channel=channel)
        Contact.objects.filter(tags__contains=[tag]).delete()


@pytest.fixture
def wired(committed_db, sandbox_process, celery_worker_process, settings, request):
    """A sandbox channel of company alpha, dispatched by the session's real worker."""
    sandbox = sandbox_process
    from core.redis import get_redis

    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://127.0.0.1:9"  # nobody listens: statuses are not needed
    celery_app.conf.task_always_eager = False
    rate = getattr(request, "param", 80)
    # Nobody listens for statuses, so the sandbox does not spend its time (and its timing) posting them.
    httpx.put(
        f"{sandbox.base_url}/_sandbox/config",
        json={
            "webhook_retry": False,
            "status_delay_ms": 3_600_000,
            "auto_read": False,
            "fail_rate": 0.0,  # the sandbox outlives each test: whatever one configured is undone
            "latency_ms": 0,
        },
    ).raise_for_status()
    channel = make_channel(sandbox, rate_per_s=rate)
    tag = f"t{channel.external_id}"
    yield Wired(channel=channel, sandbox=sandbox, number_id=channel.external_id), tag
    celery_app.conf.task_always_eager = True
    cleanup("alpha", channel, tag)
    for key in get_redis().scan_iter("send-slowdown:*"):
        get_redis().delete(key)


def start_worker(name: str, *, queue: str, concurrency: int = 1, **env: str):
    return start_process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "-Q",
            queue,
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"{name}-{os.getpid()}@%h",
        ],
        _test_process_env(CAMPAIGN_DISPATCH_QUEUE=queue, **env),
        f"worker-{name}",
    )


def wait_ready(proc, log_path: str) -> None:
    def is_ready() -> bool:
        with open(log_path, "rb") as reader:
            return b" ready." in reader.read()

    _wait_for(proc, is_ready, f"worker ({log_path})", log_path)


@pytest.fixture
def extra_workers(django_db_setup):
    """Start worker processes on a queue of their own; stopped (or killed) at the end."""
    started = []

    def start(name: str, count: int = 1, **env: str) -> tuple[str, list]:
        queue = f"{name}-{os.getpid()}"
        procs = [start_worker(f"{name}{i}", queue=queue, **env) for i in range(count)]
        for proc, log_path in procs:
            wait_ready(proc, log_path)
        started.extend(p for p, _ in procs)
        return queue, [p for p, _ in procs]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=15)
        except Exception:
            proc.kill()
