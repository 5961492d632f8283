"""Test setup: the real PostgreSQL (embedded or DATABASE_URL) and Redis; two companies provisioned once
per session through the real service and reused by every test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests import helpers


@dataclass(frozen=True)
class TenantFixture:
    company: object
    host: str
    owner_email: str
    owner_password: str


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.test.utils import setup_databases, teardown_databases

    from accounts.models import User
    from tenants.services import company_create

    created = None
    with django_db_blocker.unblock():
        if not connection.settings_dict["NAME"].startswith("test_"):
            # pytest-django creates the test database only when a collected test asks for `db`; tests
            # that only use committed data or live processes need it too.
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        _assert_test_database()
        _flush_test_redis()
        for slug, name in (("alpha", "Alpha Ltd"), ("beta", "Beta Inc")):
            company_create(
                name=name,
                slug=slug,
                owner_email=f"owner@{slug}.test",
                owner_password=helpers.PASSWORD,
                owner_name=f"{name} Owner",
                plan_code="pro",
            )
        with schema_context("public"):
            User.objects.create_superuser("root@platform.test", helpers.PASSWORD, name="Root")
    yield
    if created is not None:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


def _assert_test_database() -> None:
    # pytest-django creates the test database only when a collected test asks for `db`; never write
    # the session's companies into the development database.
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"refusing to use non-test database {name!r}: select a `db` test too"


def _flush_test_redis() -> None:
    from django.conf import settings

    from core.redis import get_redis

    client = get_redis()
    number = client.connection_pool.connection_kwargs.get("db", 0)
    assert number != 0, f"refusing to flush Redis database 0 ({settings.REDIS_URL}): use `make test`"
    client.flushdb()


def _tenant(slug: str) -> TenantFixture:
    from tenants.models import Company

    company = Company.objects.get(schema_name=slug)
    return TenantFixture(
        company=company,
        host=f"{slug}.localhost",
        owner_email=f"owner@{slug}.test",
        owner_password=helpers.PASSWORD,
    )


@pytest.fixture
def alpha(db) -> TenantFixture:
    return _tenant("alpha")


@pytest.fixture
def beta(db) -> TenantFixture:
    return _tenant("beta")


@pytest.fixture(autouse=True)
def _public_schema_between_tests():
    yield
    connection.set_schema_to_public()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Database access outside a test transaction, for code that runs on other threads or processes
    (WebSocket consumers, a live server). Whatever the test writes it must delete itself."""
    with django_db_blocker.unblock():
        yield
    connection.set_schema_to_public()


@pytest.fixture
def sandbox():
    """The WhatsApp sandbox server, in this process on a free port."""
    from channels_wa.sandbox import run_server

    server, _ = run_server("127.0.0.1", 0)
    yield server
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class LiveServer:
    port: int

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}"


def _test_process_env(**extra: str) -> dict[str, str]:
    """Environment for a server or worker process sharing this session's test database and Redis."""
    from django.conf import settings

    parsed = urlparse(os.environ["DATABASE_URL"])
    database_url = urlunparse(parsed._replace(path="/" + settings.DATABASES["default"]["NAME"]))
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "1",
        "OMNIDESK_TESTING": "1",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        **extra,
    }


def start_process(command: list[str], env: dict[str, str], name: str) -> tuple[subprocess.Popen, str]:
    """Start a server or worker with its output in a log file (a pipe nobody reads would fill up and
    block the process)."""
    log_path = f"/tmp/omnidesk-test-{name}-{os.getpid()}.log"
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log_path


def _wait_for(proc: subprocess.Popen, is_ready, what: str, log_path: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            with open(log_path, "rb") as log:
                pytest.fail(f"{what} did not start:\n{log.read().decode()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup):
    """A real daphne (HTTP + WebSocket) on the test database."""
    from config.embedded import port_answers
    from tests.helpers import free_port

    port = free_port()
    proc, log_path = start_process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        _test_process_env(),
        "daphne",
    )
    _wait_for(proc, lambda: port_answers("127.0.0.1", port), "daphne", log_path)
    yield LiveServer(port=port)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, live_server_url):
    """A real Celery worker on the test database and the test Redis broker (webhook URLs it hands to
    providers, such as Twilio's StatusCallback, point at the live server)."""
    proc, log_path = start_process(
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
            "4",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--queues",
            "celery,ai",
            "--hostname",
            f"test-{os.getpid()}@%h",
        ],
        _test_process_env(WHATSAPP_SANDBOX_WEBHOOK_BASE=f"http://{{host}}:{live_server_url.port}"),
        "worker",
    )

    def is_ready() -> bool:
        with open(log_path, "rb") as reader:
            return b" ready." in reader.read()

    _wait_for(proc, is_ready, f"the Celery worker (log: {log_path})", log_path)
    yield proc
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(autouse=True)
def _fresh_local_caches():
    """Per-process lookup caches and Redis usage counters must not carry one test's state into the next
    (the database is rolled back after each test; these are not)."""
    from core.localcache import clear_all
    from core.redis import get_redis

    clear_all()
    redis = get_redis()
    for key in redis.scan_iter("usage:*"):
        redis.delete(key)
    yield
    clear_all()
