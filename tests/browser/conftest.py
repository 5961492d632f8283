"""A real daphne (HTTP + WebSocket) on the test database, and headless Debian Chromium driving it."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


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
