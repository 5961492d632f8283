"""The Meta provider and its HTTP client against a loopback stub of the Graph API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from channels_wa.providers import base
from channels_wa.providers.base import (
    ChannelConfig,
    InteractiveRef,
    LocationRef,
    MediaRef,
    OutboundMessage,
    ProviderRequestError,
    TemplateRef,
)
from channels_wa.providers.meta_whatsapp import MetaWhatsAppProvider
from channels_wa.providers.meta_whatsapp.client import DEFAULT_API_VERSION, MetaGraphClient

NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
TOKEN = "EAAG-test-token"
MESSAGES_PATH = f"/v23.0/{NUMBER_ID}/messages"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, Any, dict[str, str]]


@dataclass
class StubGraph:
    """Records every request; answers from per-route queues, else a default handler."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[tuple[str, str], list[Reply | Callable[[Recorded], Reply]]] = field(default_factory=dict)

    def on(
        self, method: str, path: str, status: int = 200, body: Any = None, headers: dict | None = None
    ) -> None:
        self.routes.setdefault((method, path), []).append((status, body, headers or {}))

    def on_call(self, method: str, path: str, handler: Callable[[Recorded], Reply]) -> None:
        self.routes.setdefault((method, path), []).append(handler)

    def reply(self, request: Recorded) -> Reply:
        queue = self.routes.get((request.method, request.path))
        if queue:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return answer(request) if callable(answer) else answer
        if request.method == "POST" and request.path.endswith("/messages"):
            return (
                200,
                {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.STUB{len(self.requests)}"}]},
                {},
            )
        return 404, {"error": {"message": "Unknown path", "code": 803}}, {}


@pytest.fixture
def stub() -> Iterator[StubGraph]:
    graph = StubGraph()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            graph.requests.append(request)
            status, body, reply_headers = graph.reply(request)
            headers = dict(reply_headers)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                content_type = "application/octet-stream" if isinstance(body, bytes) else "application/json"
                self.send_header("Content-Type", headers.pop("Content-Type", content_type))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client already gave up, as in the timeout test

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    graph.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield graph
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_provider(base_url: str, **overrides: Any) -> MetaWhatsAppProvider:
    config = {
        "provider": "meta_whatsapp",
        "external_id": NUMBER_ID,
        "account_id": WABA_ID,
        "access_token": TOKEN,
        "base_url": base_url,
        "api_version": "v23.0",
    }
    config.update(overrides)
    return MetaWhatsAppProvider(ChannelConfig(**config))


@pytest.fixture
def provider(stub: StubGraph) -> Iterator[MetaWhatsAppProvider]:
    meta = make_provider(stub.url)
    yield meta
    meta.close()


def sent_json(provider: MetaWhatsAppProvider, stub: StubGraph, message: OutboundMessage) -> dict[str, Any]:
    result = provider.send(message)
    assert result.is_ok, result.error
    assert result.provider_message_id.startswith("wamid.STUB")
    request = stub.requests[-1]
    assert (request.method, request.path) == ("POST", MESSAGES_PATH)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    return request.json()


ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551234567"}


# Sending: the exact JSON


def test_text(provider, stub):
    message = OutboundMessage(
        to="+15551234567", kind=base.TEXT, text="See https://example.com", preview_url=True
    )
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "text",
        "text": {"body": "See https://example.com", "preview_url": True},
    }


def test_text_reply_with_client_ref(provider, stub):
    message = OutboundMessage(
        to="+1 (555) 123-4567", kind=base.TEXT, text="Yes", reply_to="wamid.IN01", client_ref="msg-42"
    )
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "text",
        "text": {"body": "Yes", "preview_url": False},
        "context": {"message_id": "wamid.IN01"},
        "biz_opaque_callback_data": "msg-42",
    }


def test_send_returns_the_wamid(provider, stub):
    stub.on(
        "POST", MESSAGES_PATH, body={"messaging_product": "whatsapp", "messages": [{"id": "wamid.REAL01"}]}
    )
    result = provider.send(OutboundMessage(to="+15551234567", kind=base.TEXT, text="hi"))
    assert result.provider_message_id == "wamid.REAL01"
    assert result.raw["messages"] == [{"id": "wamid.REAL01"}]


@pytest.mark.parametrize(
    "kind,media,expected",
    [
        (
            base.IMAGE,
            MediaRef(link="https://cdn.example.com/a.jpg", caption="Look"),
            {"link": "https://cdn.example.com/a.jpg", "caption": "Look"},
        ),
        (base.VIDEO, MediaRef(media_id="900", caption="Clip"), {"id": "900", "caption": "Clip"}),
        (base.AUDIO, MediaRef(media_id="901", caption="ignored"), {"id": "901"}),
        (
            base.DOCUMENT,
            MediaRef(link="https://cdn.example.com/i.pdf", caption="Invoice", filename="invoice.pdf"),
            {"link": "https://cdn.example.com/i.pdf", "caption": "Invoice", "filename": "invoice.pdf"},
        ),
        (base.STICKER, MediaRef(media_id="902"), {"id": "902"}),
    ],
)
def test_media(provider, stub, kind, media, expected):
    message = OutboundMessage(to="+15551234567", kind=kind, media=media)
    assert sent_json(provider, stub, message) == {**ENVELOPE, "type": kind, kind: expected}


def test_template_with_every_component(provider, stub):
    template = TemplateRef(
        name="order_update",
        language="en_US",
        header_media=MediaRef(link="https://cdn.example.com/r.pdf", filename="receipt.pdf"),
        header_media_kind="document",
        body_params=["Carla", "#2291"],
        button_params=[(0, "quick_reply", "STOP"), (1, "url", "2291")],
    )
    message = OutboundMessage(to="+15551234567", kind=base.TEMPLATE, template=template, client_ref="m-1")
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {
                            "type": "document",
                            "document": {"link": "https://cdn.example.com/r.pdf", "filename": "receipt.pdf"},
                        }
                    ],
                },
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Carla"}, {"type": "text", "text": "#2291"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "STOP"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "1",
                    "parameters": [{"type": "text", "text": "2291"}],
                },
            ],
        },
        "biz_opaque_callback_data": "m-1",
    }


def test_template_with_text_header_and_without_params(provider, stub):
    with_header = TemplateRef(name="greet", language="pt_BR", header_params=["Carla"])
    payload = sent_json(
        provider, stub, OutboundMessage(to="+15551234567", kind=base.TEMPLATE, template=with_header)
    )
    assert payload["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Carla"}]}
    ]
    bare = TemplateRef(name="hello_world", language="en_US")
    payload = sent_json(provider, stub, OutboundMessage(to="+15551234567", kind=base.TEMPLATE, template=bare))
    assert payload["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_template_header_image(provider, stub):
    template = TemplateRef(
        name="promo", language="en", header_media=MediaRef(media_id="77"), header_media_kind="image"
    )
    payload = sent_json(
        provider, stub, OutboundMessage(to="+15551234567", kind=base.TEMPLATE, template=template)
    )
    assert payload["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "77"}}]}
    ]


def test_reaction(provider, stub):
    message = OutboundMessage(
        to="+15551234567", kind=base.REACTION, reaction_to="wamid.IN01", text="\u2764\ufe0f"
    )
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "reaction",
        "reaction": {"message_id": "wamid.IN01", "emoji": "\u2764\ufe0f"},
    }


def test_location(provider, stub):
    location = LocationRef(latitude=37.48426, longitude=-122.14828, name="Pickup", address="1 Hacker Way")
    message = OutboundMessage(to="+15551234567", kind=base.LOCATION, location=location)
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "location",
        "location": {
            "latitude": 37.48426,
            "longitude": -122.14828,
            "name": "Pickup",
            "address": "1 Hacker Way",
        },
    }


def test_interactive_reply_buttons(provider, stub):
    interactive = InteractiveRef(
        kind="button",
        header="Your order",
        body="Confirm delivery on Tuesday?",
        footer="Reply below",
        buttons=[("yes", "Yes"), ("no", "No")],
    )
    message = OutboundMessage(to="+15551234567", kind=base.INTERACTIVE, interactive=interactive)
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Your order"},
            "body": {"text": "Confirm delivery on Tuesday?"},
            "footer": {"text": "Reply below"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}},
                ]
            },
        },
    }


def test_interactive_list(provider, stub):
    interactive = InteractiveRef(
        kind="list",
        body="Pick a slot",
        button_text="Slots",
        sections=[
            {
                "title": "Tuesday",
                "rows": [
                    {"id": "tue_10", "title": "10:00", "description": "Morning"},
                    {"id": "tue_15", "title": "15:00"},
                ],
            }
        ],
    )
    message = OutboundMessage(to="+15551234567", kind=base.INTERACTIVE, interactive=interactive)
    assert sent_json(provider, stub, message) == {
        **ENVELOPE,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Pick a slot"},
            "action": {
                "button": "Slots",
                "sections": [
                    {
                        "title": "Tuesday",
                        "rows": [
                            {"id": "tue_10", "title": "10:00", "description": "Morning"},
                            {"id": "tue_15", "title": "15:00"},
                        ],
                    }
                ],
            },
        },
    }


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage(to="+15551234567", kind=base.TEXT),
        OutboundMessage(to="+15551234567", kind=base.IMAGE),
        OutboundMessage(to="+15551234567", kind=base.IMAGE, media=MediaRef(caption="no source")),
        OutboundMessage(to="+15551234567", kind=base.CONTACTS),
        OutboundMessage(to="+15551234567", kind=base.REACTION, text="x"),
        OutboundMessage(
            to="+15551234567",
            kind=base.INTERACTIVE,
            interactive=InteractiveRef(kind="button", body="b", buttons=[(str(i), str(i)) for i in range(4)]),
        ),
    ],
)
def test_unsendable_messages_fail_permanently_without_a_request(provider, stub, message):
    result = provider.send(message)
    assert result.error.code == "invalid_message"
    assert result.error.is_transient is False
    assert stub.requests == []


def test_mark_read(provider, stub):
    stub.on("POST", MESSAGES_PATH, body={"success": True})
    result = provider.mark_read("wamid.IN01")
    assert result.is_ok
    assert stub.requests[-1].json() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN01",
    }
    assert stub.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


# Versions and base URL


def test_default_version_comes_from_settings(stub, settings):
    settings.META_GRAPH_API_VERSION = "v99.0"
    meta = make_provider(stub.url, api_version="")
    meta.send(OutboundMessage(to="+15551234567", kind=base.TEXT, text="hi"))
    assert stub.requests[-1].path == f"/v99.0/{NUMBER_ID}/messages"
    del settings.META_GRAPH_API_VERSION
    assert MetaGraphClient(ChannelConfig(provider="meta_whatsapp", external_id="1")).url("x") == (
        f"https://graph.facebook.com/{DEFAULT_API_VERSION}/x"
    )


def test_config_version_wins(stub, settings):
    settings.META_GRAPH_API_VERSION = "v99.0"
    meta = make_provider(stub.url + "/", api_version="21.0")
    meta.send(OutboundMessage(to="+15551234567", kind=base.TEXT, text="hi"))
    assert stub.requests[-1].path == f"/v21.0/{NUMBER_ID}/messages"


# Errors


def meta_error(code: int, message: str, details: str = "", subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az1"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode:
        error["error_subcode"] = subcode
    return {"error": error}


def send_text(provider: MetaWhatsAppProvider) -> base.SendResult:
    return provider.send(OutboundMessage(to="+15551234567", kind=base.TEXT, text="hi"))


def test_throughput_limit_is_transient(provider, stub):
    stub.on(
        "POST",
        MESSAGES_PATH,
        400,
        meta_error(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
        {"Retry-After": "2"},
    )
    error = send_text(provider).error
    assert (error.code, error.title) == ("130429", "Rate limit hit")
    assert error.detail == "Cloud API message throughput has been reached."
    assert error.is_transient is True
    assert error.http_status == 400
    assert error.retry_after_s == 2.0


def test_closed_window_is_permanent(provider, stub):
    details = "Message failed to send because more than 24 hours have passed since the customer last replied."
    stub.on("POST", MESSAGES_PATH, 400, meta_error(131047, "(#131047) Re-engagement message", details))
    result = send_text(provider)
    assert not result.is_ok
    assert result.provider_message_id == ""
    error = result.error
    assert (error.code, error.title, error.detail) == ("131047", "Re-engagement message", details)
    assert error.is_transient is False


def test_template_error_is_permanent(provider, stub):
    stub.on(
        "POST",
        MESSAGES_PATH,
        404,
        meta_error(
            132001, "(#132001) Template name does not exist in the translation", "template name (x) ..."
        ),
    )
    error = send_text(provider).error
    assert (error.code, error.title) == ("132001", "Template name does not exist in the translation")
    assert error.is_transient is False
    assert error.http_status == 404


def test_pair_rate_and_bad_token(provider, stub):
    stub.on(
        "POST", MESSAGES_PATH, 400, meta_error(131056, "(#131056) (Business Account, Consumer Account) pair")
    )
    assert send_text(provider).error.is_transient is True
    stub.routes.clear()
    stub.on("POST", MESSAGES_PATH, 401, meta_error(190, "Error validating access token", subcode=463))
    error = send_text(provider).error
    assert (error.code, error.is_transient, error.http_status) == ("190", False, 401)


def test_http_500_is_transient_even_without_json(provider, stub):
    stub.on("POST", MESSAGES_PATH, 500, b"<html>Internal Server Error</html>")
    error = send_text(provider).error
    assert error.code == "http_500"
    assert error.is_transient is True
    assert error.http_status == 500


def test_success_without_an_id_is_a_permanent_bad_response(provider, stub):
    stub.on("POST", MESSAGES_PATH, 200, {"messaging_product": "whatsapp", "messages": []})
    error = send_text(provider).error
    assert (error.code, error.is_transient) == ("bad_response", False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_transient_network_error():
    meta = make_provider(f"http://127.0.0.1:{free_port()}")
    error = send_text(meta).error
    assert (error.code, error.is_transient, error.http_status) == ("network", True, None)
    with pytest.raises(ProviderRequestError) as raised:
        meta.fetch_media("123")
    assert raised.value.error.code == "network"


@pytest.mark.parametrize("base_url", ["ftp://graph.example.test", "http://bad\x00host"])
def test_invalid_base_url_is_a_permanent_error(base_url):
    error = send_text(make_provider(base_url)).error
    assert (error.code, error.is_transient) == ("invalid_url", False)


def test_no_answer_after_the_request_went_out_is_not_retried(stub):
    def slow(request: Recorded) -> Reply:
        time.sleep(0.5)
        return 200, {"messages": [{"id": "wamid.LATE"}]}, {}

    stub.on_call("POST", MESSAGES_PATH, slow)
    meta = make_provider(stub.url, options={"timeout_s": 0.1})
    error = send_text(meta).error
    # The API got the message (and sent it): a retry would deliver it twice.
    assert (error.code, error.is_transient) == ("no_answer", False)
    assert "Timeout" in error.detail and "may have gone out" in error.title


# Media


def test_upload_then_fetch_media_round_trip(provider, stub):
    content = b"\x89PNG\r\n\x1a\n fake image bytes"
    uploaded: dict[str, bytes] = {}

    def upload(request: Recorded) -> Reply:
        uploaded["body"] = request.body
        return 200, {"id": "555000111"}, {}

    stub.on_call("POST", f"/v23.0/{NUMBER_ID}/media", upload)
    stub.on(
        "GET",
        "/v23.0/555000111",
        body={
            "messaging_product": "whatsapp",
            "url": f"{stub.url}/whatsapp_business/attachments/?mid=555000111",
            "mime_type": "image/png",
            "sha256": "abc",
            "file_size": str(len(content)),
            "id": "555000111",
        },
    )
    stub.on("GET", "/whatsapp_business/attachments/", body=content, headers={"Content-Type": "image/png"})

    media_id = provider.upload_media(content=content, mime_type="image/png", filename="photo.png")
    assert media_id == "555000111"
    upload_request = stub.requests[0]
    assert upload_request.headers["content-type"].startswith("multipart/form-data")
    assert upload_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in uploaded["body"]
    assert b'name="type"\r\n\r\nimage/png' in uploaded["body"]
    assert b'name="file"; filename="photo.png"' in uploaded["body"]
    assert content in uploaded["body"]

    fetched = provider.fetch_media(media_id)
    assert fetched == base.FetchedMedia(content=content, mime_type="image/png")
    info_request, download_request = stub.requests[1], stub.requests[2]
    assert (info_request.method, info_request.path) == ("GET", "/v23.0/555000111")
    assert download_request.query == {"mid": ["555000111"]}
    assert download_request.headers["authorization"] == f"Bearer {TOKEN}"


def test_media_errors_raise_provider_request_error(provider, stub):
    stub.on("GET", "/v23.0/404404", 400, meta_error(100, "(#100) Invalid parameter"))
    with pytest.raises(ProviderRequestError) as raised:
        provider.fetch_media("404404")
    assert (raised.value.error.code, raised.value.error.is_transient) == ("100", False)


def test_expired_media_url_raises(provider, stub):
    stub.on("GET", "/v23.0/777", body={"url": f"{stub.url}/gone", "mime_type": "image/jpeg"})
    stub.on("GET", "/gone", 404, b"Not Found")
    with pytest.raises(ProviderRequestError) as raised:
        provider.fetch_media("777")
    assert raised.value.error.code == "http_404"


# Templates


TEMPLATES_PATH = f"/v23.0/{WABA_ID}/message_templates"


def test_sync_templates_follows_paging(provider, stub):
    first_page = {
        "data": [
            {
                "id": "t1",
                "name": "order_update",
                "language": "en_US",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                    {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{3}}. Thanks {{1}}!"},
                    {"type": "FOOTER", "text": "Acme"},
                    {
                        "type": "BUTTONS",
                        "buttons": [
                            {"type": "URL", "text": "Track", "url": "https://acme.test/track/{{1}}"},
                            {"type": "QUICK_REPLY", "text": "Stop"},
                        ],
                    },
                ],
            }
        ],
        "paging": {
            "cursors": {"before": "B1", "after": "A1"},
            "next": f"https://graph.facebook.com/v23.0/{WABA_ID}/message_templates?after=A1",
        },
    }
    second_page = {
        "data": [
            {
                "id": "t2",
                "name": "hello_world",
                "language": "en_US",
                "status": "PENDING",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "Hello world"}],
            }
        ],
        "paging": {"cursors": {"before": "B2", "after": "A2"}},
    }
    stub.on("GET", TEMPLATES_PATH, body=first_page)
    stub.on("GET", TEMPLATES_PATH, body=second_page)

    templates = provider.sync_templates()

    assert [(t.name, t.language, t.status, t.category, t.provider_template_id) for t in templates] == [
        ("order_update", "en_US", "APPROVED", "UTILITY", "t1"),
        ("hello_world", "en_US", "PENDING", "MARKETING", "t2"),
    ]
    # header {{1}} + body {{1}},{{2}},{{3}} + URL button {{1}}
    assert [t.variable_count for t in templates] == [5, 0]
    assert templates[0].components[1]["type"] == "BODY"
    assert len(stub.requests) == 2
    assert "after" not in stub.requests[0].query
    assert stub.requests[1].query["after"] == ["A1"]
    assert stub.requests[0].query["limit"] == ["100"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in stub.requests)


def test_sync_templates_follows_next_url_without_cursor(provider, stub):
    stub.on(
        "GET",
        TEMPLATES_PATH,
        body={
            "data": [{"name": "a", "components": []}],
            "paging": {"next": f"{stub.url}/page-two?x=1&access_token={TOKEN}"},
        },
    )
    stub.on("GET", "/page-two", body={"data": [{"name": "b", "components": []}], "paging": {}})
    assert [t.name for t in provider.sync_templates()] == ["a", "b"]
    assert stub.requests[1].query == {"x": ["1"]}
    assert stub.requests[1].headers["authorization"] == f"Bearer {TOKEN}"


def test_sync_templates_error_raises(provider, stub):
    stub.on("GET", TEMPLATES_PATH, 403, meta_error(200, "(#200) Permissions error"))
    with pytest.raises(ProviderRequestError) as raised:
        provider.sync_templates()
    assert raised.value.error.code == "200"


def test_sync_templates_without_waba_is_empty(stub):
    assert make_provider(stub.url, account_id="").sync_templates() == []
    assert stub.requests == []
