"""A real daphne (HTTP + WebSocket) on the test database, and headless Debian Chromium driving it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings

from config.embedded import port_answers
from tests.helpers import free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_database_url() -> str:
    parsed = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parsed._replace(path="/" + settings.DATABASES["default"]["NAME"]))


@pytest.fixture(scope="session")
def live_server_url(django_db_setup):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DEBUG": "1", "OMNIDESK_TESTING": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not port_answers("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"daphne did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def off_loop(fn, *args):
    """Run Django/channel-layer code on a worker thread, away from Playwright's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture
def page(db, live_server_url):
    """A fresh headless Chromium per test. It starts after the test transaction opens and stops before
    it is rolled back: Playwright's sync API runs an event loop in this thread, where Django refuses
    to touch the database (tests do such work through `off_loop`)."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()
