from __future__ import annotations

import contextlib
import socket
import uuid
from unittest import mock

from django.test import Client

PASSWORD = "correct-horse-battery"


def unique(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def host_client(host: str) -> Client:
    return Client(HTTP_HOST=host)


def login(client: Client, host: str, email: str, password: str = PASSWORD, path: str = "/login/"):
    return client.post(path, {"username": email, "password": password}, HTTP_HOST=host)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def capture_realtime_events():
    """Collect (event_type, payload, groups) that services hand to the channel layer after commit."""
    sent: list[tuple[str, dict, list[str]]] = []
    with mock.patch("core.realtime.send_now", side_effect=lambda e, p, g: sent.append((e, p, g))):
        yield sent


def staff_socket(session_key: str, *, host: str = "alpha.localhost", origin: str | None = None):
    """A WebSocket client on `/ws/` for a signed-in staff session on a company host."""
    from channels.testing import WebsocketCommunicator
    from django.conf import settings

    from config.asgi import application

    headers = [(b"host", host.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return WebsocketCommunicator(application, "/ws/", headers=headers)
