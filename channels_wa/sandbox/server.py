"""The HTTP front of the sandbox: routes Cloud API, control API and customer page requests to `Sandbox`."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import pages
from .delivery import Timer, WebhookDispatcher
from .engine import ApiError, ControlError, Sandbox
from .state import SandboxState
from .stubs import ChannelStubs

logger = logging.getLogger("channels_wa.sandbox")

VERSION = r"v\d+(?:\.\d+)?"
SEGMENT = r"[^/]+"
MAX_BODY_BYTES = 110 * 1024 * 1024


class Response:
    def __init__(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json")


class Request:
    def __init__(
        self, handler: BaseHTTPRequestHandler, method: str, body: bytes, received_at: float | None = None
    ) -> None:
        # When the request arrived: Meta counts a number's sends per second by arrival, so the rate check
        # uses this, not the time this process got round to it.
        self.received_at = received_at if received_at is not None else time.time()
        parts = urlsplit(handler.path)
        self.method = method
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query))
        self.body = body
        self.headers = handler.headers
        self.authorization = handler.headers.get("Authorization", "")
        host, port = handler.server.server_address[:2]
        self.base_url = "http://" + (handler.headers.get("Host") or f"{host}:{port}")

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise ControlError(400, "invalid_json", "the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise ControlError(400, "invalid_json", "the body must be a JSON object")
        return data


Route = tuple[str, re.Pattern[str], Callable[..., Response], bool]


def build_routes(sandbox: Sandbox) -> list[Route]:
    """(method, path pattern, view, is_cloud_api). Cloud API views get the configured latency."""

    def page(html: str) -> Callable[..., Response]:
        return lambda request: Response(200, html.encode(), "text/html; charset=utf-8")

    def media_bytes(request: Request, media_id: str, *, is_authenticated: bool) -> Response:
        data, mime_type = sandbox.media_download(
            media_id, request.authorization if is_authenticated else None
        )
        return Response(200, data, mime_type)

    def templates(request: Request, waba_id: str) -> Response:
        query = {**request.query, "_path": request.path}
        return json_response(sandbox.api_templates(waba_id, request.authorization, query, request.base_url))

    table: list[tuple[str, str, Callable[..., Response], bool]] = [
        ("GET", r"/", page(pages.INDEX_HTML), False),
        ("GET", r"/phone/(\d+)", lambda r, _digits: page(pages.PHONE_HTML)(r), False),
        ("GET", r"/_sandbox/health", lambda r: json_response({"ok": True}), False),
        ("GET", r"/_sandbox/numbers", lambda r: json_response(sandbox.numbers_list()), False),
        ("GET", rf"/_sandbox/numbers/({SEGMENT})", lambda r, i: json_response(sandbox.number_get(i)), False),
        (
            "PUT",
            rf"/_sandbox/numbers/({SEGMENT})",
            lambda r, i: json_response(sandbox.number_put(i, r.json())),
            False,
        ),
        (
            "DELETE",
            rf"/_sandbox/numbers/({SEGMENT})",
            lambda r, i: json_response(sandbox.number_delete(i)),
            False,
        ),
        ("GET", r"/_sandbox/config", lambda r: json_response(sandbox.config_get()), False),
        ("PUT", r"/_sandbox/config", lambda r: json_response(sandbox.config_put(r.json())), False),
        ("POST", r"/_sandbox/reset", lambda r: json_response(sandbox.reset(r.json())), False),
        (
            "GET",
            r"/_sandbox/customers",
            lambda r: json_response(sandbox.customers_list(r.query.get("number", ""))),
            False,
        ),
        (
            "POST",
            rf"/_sandbox/customers/({SEGMENT})/messages",
            lambda r, d: json_response(sandbox.customer_message(d, r.json())),
            False,
        ),
        (
            "GET",
            rf"/_sandbox/customers/({SEGMENT})/thread",
            lambda r, d: json_response(sandbox.customer_thread(d, r.query.get("number", ""))),
            False,
        ),
        (
            "POST",
            rf"/_sandbox/customers/({SEGMENT})/age_window",
            lambda r, d: json_response(sandbox.customer_age_window(d, r.json())),
            False,
        ),
        (
            "POST",
            rf"/_sandbox/customers/({SEGMENT})/read",
            lambda r, d: json_response(sandbox.customer_read(d, r.json())),
            False,
        ),
        (
            "GET",
            r"/_sandbox/sent",
            lambda r: json_response(sandbox.sent_list(r.query.get("number", ""))),
            False,
        ),
        ("GET", r"/_sandbox/webhooks", lambda r: json_response(sandbox.webhook_log()), False),
        (
            "PUT",
            rf"/_sandbox/templates/({SEGMENT})",
            lambda r, w: json_response(sandbox.template_put(w, r.json())),
            False,
        ),
        (
            "GET",
            rf"/_sandbox/media/({SEGMENT})/download",
            lambda r, m: media_bytes(r, m, is_authenticated=True),
            False,
        ),
        (
            "GET",
            rf"/_sandbox/media/({SEGMENT})/view",
            lambda r, m: media_bytes(r, m, is_authenticated=False),
            False,
        ),
        (
            "POST",
            rf"/{VERSION}/({SEGMENT})/messages",
            lambda r, i: json_response(
                sandbox.api_send(i, r.authorization, r.body, received_at=r.received_at)
            ),
            True,
        ),
        (
            "POST",
            rf"/{VERSION}/({SEGMENT})/media",
            lambda r, i: json_response(
                sandbox.api_media_upload(i, r.authorization, r.headers.get("Content-Type", ""), r.body)
            ),
            True,
        ),
        ("GET", rf"/{VERSION}/({SEGMENT})/message_templates", templates, True),
        (
            "GET",
            rf"/{VERSION}/({SEGMENT})/phone_numbers",
            lambda r, w: json_response(sandbox.api_phone_numbers(w, r.authorization)),
            True,
        ),
        (
            "GET",
            rf"/{VERSION}/({SEGMENT})",
            lambda r, i: json_response(sandbox.api_get_object(i, r.authorization, r.base_url)),
            True,
        ),
        (
            "DELETE",
            rf"/{VERSION}/({SEGMENT})",
            lambda r, i: json_response(sandbox.api_media_delete(i, r.authorization)),
            True,
        ),
    ]
    return [(method, re.compile(pattern + r"/?\Z"), view, is_api) for method, pattern, view, is_api in table]


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OmniDeskWhatsAppSandbox/1.0"
    # Headers and body go out as separate writes: without TCP_NODELAY, Nagle holds the body back until
    # the client's delayed ACK (~40 ms on Linux), which real Graph API servers never make a client wait.
    disable_nagle_algorithm = True
    server: SandboxServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ControlError(413, "too_large", "request body too large")
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        received_at = time.time()
        try:
            request = Request(self, method, self._read_body(), received_at)
            response = self._route(request)
        except ApiError as exc:
            response = json_response(exc.body, exc.http_status)
        except ControlError as exc:
            self.close_connection = exc.http_status == 413
            response = json_response(exc.body, exc.http_status)
        except Exception:
            logger.exception("sandbox: %s %s crashed", method, self.path)
            response = json_response(
                {"error": {"code": "internal", "message": "sandbox error", "details": {}}}, 500
            )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _route(self, request: Request) -> Response:
        stubs = self.server.stubs
        if stubs.handles(request.path):
            status, body, content_type = stubs.route(
                request.method, request.path, request.query, request.headers, request.body, request.base_url
            )
            return Response(status, body, content_type)
        allowed = False
        for route_method, pattern, view, is_api in self.server.routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if route_method != request.method:
                allowed = True
                continue
            if is_api:
                latency_ms = self.server.state.config["latency_ms"]
                if latency_ms:
                    time.sleep(latency_ms / 1000)
            return view(request, *match.groups())
        if allowed:
            raise ControlError(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.path}"
            )
        if re.match(rf"/{VERSION}/", request.path):
            raise ApiError(100, f"Unknown path components: {request.path}", http_status=400, subcode=2500)
        raise ControlError(404, "not_found", f"no route for {request.path}")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state_file: str | None = None) -> None:
        self.state = SandboxState(state_file)
        self.dispatcher = WebhookDispatcher(lambda: self.state.config)
        self.timer = Timer()
        self.sandbox = Sandbox(self.state, self.dispatcher, self.timer)
        self.routes = build_routes(self.sandbox)
        self.stubs = ChannelStubs(self.dispatcher, self.timer)
        try:
            super().__init__(address, SandboxHandler)
        except OSError:
            self._stop_workers()
            raise

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def server_close(self) -> None:
        super().server_close()
        self._stop_workers()

    def _stop_workers(self) -> None:
        self.timer.stop()
        self.dispatcher.wait_idle(timeout_s=2)
        self.dispatcher.stop()
        self.state.close()


def run_server(
    host: str = "127.0.0.1", port: int = 8025, state_file: str | None = None
) -> tuple[SandboxServer, threading.Thread]:
    """Start the sandbox in a background thread (port 0 picks a free port). Stop it with
    `server.shutdown(); server.server_close()`."""
    server = SandboxServer((host, port), state_file=state_file)
    # A short poll interval makes shutdown() return quickly, which keeps test teardown fast.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
    )
    thread.start()
    return server, thread
