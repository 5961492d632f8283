"""The ASGI handler that runs each request's Django part in one worker thread (core/asgi.py)."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core import signals
from django.test import override_settings

from core.asgi import OneHopASGIHandler
from tests.core import asgi_urls


@pytest.fixture
def handler():
    with override_settings(MIDDLEWARE=[], ROOT_URLCONF="tests.core.asgi_urls", DEBUG=False):
        yield OneHopASGIHandler()


@pytest.fixture
def finished():
    calls = []

    def receiver(**kwargs):
        calls.append(kwargs)

    signals.request_finished.connect(receiver)
    yield calls
    signals.request_finished.disconnect(receiver)


def scope(path: str, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


def call(handler, path: str, query: bytes = b"") -> tuple[int, bytes]:
    async def run():
        app = ApplicationCommunicator(handler, scope(path, query))
        await app.send_input({"type": "http.request", "body": b""})
        start = await app.receive_output(timeout=5)
        body = b""
        while True:
            message = await app.receive_output(timeout=5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await app.wait(timeout=5)
        return start["status"], body

    return async_to_sync(run)()


def test_a_request_runs_in_a_reused_worker_thread_and_is_finished_once(handler, finished):
    status, body = call(handler, "/plain", b"name=ada")
    assert status == 200
    assert body.startswith(b"hello ada from http")
    assert len(finished) == 1
    call(handler, "/plain")
    assert len(finished) == 2


def test_a_streaming_response_is_sent_whole_and_finished_after_it(handler, finished):
    status, body = call(handler, "/streaming")
    assert (status, body) == (200, b"one,two,three")
    assert len(finished) == 1


def test_an_error_in_a_view_is_a_500_response(handler, finished):
    status, _ = call(handler, "/broken")
    assert status == 500
    assert len(finished) == 1


def test_a_client_that_leaves_gets_nothing_and_the_request_is_still_finished(handler, finished):
    async def run():
        asgi_urls.release.clear()
        app = ApplicationCommunicator(handler, scope("/slow"))
        await app.send_input({"type": "http.request", "body": b""})
        await app.send_input({"type": "http.disconnect"})
        await asyncio.sleep(0.1)
        asgi_urls.release.set()
        await app.wait(timeout=5)
        assert await app.receive_nothing(timeout=0.1)

    async_to_sync(run)()
    assert len(finished) == 1
