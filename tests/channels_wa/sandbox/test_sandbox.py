"""The WhatsApp sandbox over real HTTP: started in-process on a free port, its webhooks caught by a loopback
receiver. No database: run with `pytest tests/channels_wa/sandbox -p no:django`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from channels_wa.sandbox import run_server

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
TOKEN = "EAAG-sandbox-token"
APP_SECRET = "sandbox-app-secret"
CUSTOMER = "5511987654321"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Receiver:
    """A loopback webhook endpoint that records every request and answers with queued status codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status_codes: list[int] = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.condition:
                    status = receiver.status_codes.pop(0) if receiver.status_codes else 200
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "status": status}
                    )
                    receiver.condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/whatsapp"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"expected {count} webhooks, got {len(self.requests)}"
                self.condition.wait(remaining)
            return list(self.requests)

    def payloads(self, count: int) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.wait_for(count) if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def statuses(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for p in payloads for s in p["entry"][0]["changes"][0]["value"].get("statuses", [])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def start(state_file: str | None = None) -> tuple[Any, httpx.Client]:
    server, _ = run_server("127.0.0.1", 0, state_file=state_file)
    return server, httpx.Client(base_url=server.base_url, timeout=10)


def stop(server: Any, client: httpx.Client) -> None:
    client.close()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(receiver: Receiver) -> Iterator[httpx.Client]:
    server, client = start()
    register(client, receiver.url)
    client.put(
        "/_sandbox/config", json={"status_delay_ms": 20, "webhook_retry_base_ms": 20}
    ).raise_for_status()
    yield client
    stop(server, client)


def register(client: httpx.Client, webhook_url: str, **overrides: Any) -> None:
    response = client.put(
        f"/_sandbox/numbers/{PHONE_NUMBER_ID}",
        json={
            "display_phone_number": "+1 555-000-0001",
            "waba_id": WABA_ID,
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "webhook_url": webhook_url,
            **overrides,
        },
    )
    response.raise_for_status()


def customer_says(client: httpx.Client, text: str = "hi", digits: str = CUSTOMER, **extra: Any) -> str:
    body = {"to": PHONE_NUMBER_ID, "type": "text", "text": text, "profile_name": "Carla", **extra}
    response = client.post(f"/_sandbox/customers/{digits}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def send(client: httpx.Client, body: dict[str, Any], token: str = TOKEN) -> httpx.Response:
    return client.post(
        f"/v23.0/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "recipient_type": "individual", **body},
        headers={"Authorization": f"Bearer {token}"},
    )


def send_text(
    client: httpx.Client, text: str = "Hello from the shop", to: str = "+" + CUSTOMER
) -> httpx.Response:
    return send(client, {"to": to, "type": "text", "text": {"body": text}})


def template(name: str = "order_update", language: str = "en", params: tuple[str, ...] = ("Carla", "#1042")):
    components = (
        [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}] if params else []
    )
    return {
        "type": "template",
        "template": {"name": name, "language": {"code": language}, "components": components},
    }


def error_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


def test_inbound_text_reaches_the_webhook_signed_and_shaped_like_meta(sandbox, receiver):
    wamid = customer_says(sandbox, "Is my order ready?")

    request = receiver.wait_for(1)[0]
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Hub-Signature-256"] == expected
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["path"] == "/webhooks/whatsapp"
    payload = json.loads(request["body"])
    assert payload["object"] == "whatsapp_business_account"
    entry = payload["entry"][0]
    assert entry["id"] == WABA_ID
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID}
    assert value["contacts"] == [{"profile": {"name": "Carla"}, "wa_id": CUSTOMER}]
    message = value["messages"][0]
    assert message["id"] == wamid and wamid.startswith("wamid.")
    assert message["from"] == CUSTOMER
    assert message["type"] == "text"
    assert message["text"] == {"body": "Is my order ready?"}
    assert message["timestamp"].isdigit() and abs(int(message["timestamp"]) - time.time()) < 5


def test_localhost_webhook_is_sent_to_loopback_with_the_original_host(sandbox, receiver):
    register(sandbox, f"http://demo.localhost:{receiver.port}/webhooks/whatsapp?channel=1")

    customer_says(sandbox)

    request = receiver.wait_for(1)[0]
    assert request["headers"]["Host"] == f"demo.localhost:{receiver.port}"
    assert request["path"] == "/webhooks/whatsapp?channel=1"


def test_reply_inside_the_window_is_sent_delivered_and_read_in_order(sandbox, receiver):
    customer_says(sandbox)

    response = send_text(sandbox)

    assert response.status_code == 200
    body = response.json()
    wamid = body["messages"][0]["id"]
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+" + CUSTOMER, "wa_id": CUSTOMER}]
    updates = statuses(receiver.payloads(4))
    assert [(s["id"], s["status"]) for s in updates] == [
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
    ]
    sent = updates[0]
    assert sent["recipient_id"] == CUSTOMER
    assert sent["conversation"]["origin"] == {"type": "service"}
    assert int(sent["conversation"]["expiration_timestamp"]) > time.time() + 23 * 3600
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    thread = sandbox.get(f"/_sandbox/customers/{CUSTOMER}/thread", params={"number": PHONE_NUMBER_ID}).json()
    assert [(m["direction"], m["text"], m["status"]) for m in thread] == [
        ("in", "hi", "received"),
        ("out", "Hello from the shop", "read"),
    ]


def test_free_form_message_outside_the_window_is_accepted_then_fails_131047(sandbox, receiver):
    customer_says(sandbox)
    sandbox.post(
        f"/_sandbox/customers/{CUSTOMER}/age_window", json={"number": PHONE_NUMBER_ID, "hours": 25}
    ).raise_for_status()

    response = send_text(sandbox)

    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    [failed] = statuses(receiver.payloads(2))
    assert failed["id"] == wamid and failed["status"] == "failed"
    error = failed["errors"][0]
    assert error["code"] == 131047
    assert error["title"] == "Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]


def test_customer_who_never_wrote_has_no_window(sandbox, receiver):
    response = send_text(sandbox, to="447700900123")

    assert response.status_code == 200
    [failed] = statuses(receiver.payloads(1))
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131047


def test_approved_template_goes_out_without_a_window(sandbox, receiver):
    response = send(sandbox, {"to": CUSTOMER, **template()})

    assert response.status_code == 200
    updates = statuses(receiver.payloads(3))
    assert [s["status"] for s in updates] == ["sent", "delivered", "read"]
    assert updates[0]["conversation"]["origin"] == {"type": "utility"}
    assert updates[0]["pricing"]["billable"] is True
    [message] = sandbox.get("/_sandbox/sent", params={"number": PHONE_NUMBER_ID}).json()["data"]
    assert message["text"] == "Hi Carla, your order #1042 has shipped."
    assert json.loads(message["request_body"])["template"]["name"] == "order_update"


@pytest.mark.parametrize(
    ("name", "language"),
    [("no_such_template", "en"), ("summer_sale", "en"), ("order_update", "pt_BR")],
    ids=["unknown", "rejected", "wrong-language"],
)
def test_unknown_or_unapproved_template_is_refused_132001(sandbox, receiver, name, language):
    response = send(sandbox, {"to": CUSTOMER, **template(name, language)})

    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == 132001
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert name in error["error_data"]["details"]
    assert error["fbtrace_id"]


def test_template_with_the_wrong_number_of_parameters_is_refused_132000(sandbox, receiver):
    response = send(sandbox, {"to": CUSTOMER, **template(params=("Carla",))})

    assert response.status_code == 400
    assert error_of(response)["code"] == 132000


def test_wrong_token_is_401_with_code_190(sandbox, receiver):
    customer_says(sandbox)

    response = send(sandbox, {"to": CUSTOMER, "type": "text", "text": {"body": "x"}}, token="stolen")
    missing = sandbox.post(f"/v23.0/{PHONE_NUMBER_ID}/messages", json={"messaging_product": "whatsapp"})

    for answer in (response, missing):
        assert answer.status_code == 401
        assert error_of(answer)["code"] == 190
        assert error_of(answer)["type"] == "OAuthException"
    assert sandbox.get("/_sandbox/sent").json()["data"] == []


def test_invalid_bodies_are_refused_with_code_100(sandbox, receiver):
    customer_says(sandbox)
    bad_bodies = [
        {"to": CUSTOMER, "type": "text", "text": {}},
        {"to": CUSTOMER, "type": "image", "image": {"caption": "no link or id"}},
        {"to": CUSTOMER, "type": "carrier_pigeon", "carrier_pigeon": {}},
        {"type": "text", "text": {"body": "to whom?"}},
    ]
    for body in bad_bodies:
        response = send(sandbox, body)
        assert response.status_code == 400, body
        assert error_of(response)["code"] == 100, body
    response = sandbox.post(
        f"/v23.0/{PHONE_NUMBER_ID}/messages",
        json={"to": CUSTOMER, "type": "text", "text": {"body": "x"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert error_of(response)["code"] == 100


def test_throughput_above_the_limit_is_refused_130429(sandbox, receiver):
    register(sandbox, receiver.url, throughput_per_s=3)
    customer_says(sandbox)

    answers = [send_text(sandbox, f"m{i}") for i in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 400]
    error = error_of(answers[3])
    assert error["code"] == 130429
    assert "Rate limit hit" in error["message"]
    time.sleep(1.05)
    assert send_text(sandbox, "after a second").status_code == 200


def test_too_many_messages_to_one_customer_is_refused_131056(sandbox, receiver):
    register(sandbox, receiver.url, pair_limit=2, pair_window_s=60)
    customer_says(sandbox)
    customer_says(sandbox, digits="5511900000002")

    answers = [send_text(sandbox, f"m{i}") for i in range(3)]
    other = send_text(sandbox, "someone else", to="5511900000002")

    assert [a.status_code for a in answers] == [200, 200, 400]
    assert error_of(answers[2])["code"] == 131056
    assert "pair rate limit hit" in error_of(answers[2])["message"]
    assert other.status_code == 200


def test_failure_injection(sandbox, receiver):
    customer_says(sandbox)

    sandbox.put("/_sandbox/config", json={"fail_rate": 1, "fail_code": 131000}).raise_for_status()
    generic = send_text(sandbox)
    sandbox.put("/_sandbox/config", json={"fail_code": "500"}).raise_for_status()
    server_error = send_text(sandbox)
    sandbox.put("/_sandbox/config", json={"fail_code": 130429}).raise_for_status()
    throttled = send_text(sandbox)
    sandbox.put("/_sandbox/config", json={"fail_rate": 0}).raise_for_status()
    healthy = send_text(sandbox)

    assert (generic.status_code, error_of(generic)["code"]) == (500, 131000)
    assert server_error.status_code == 500 and error_of(server_error)["is_transient"] is True
    assert (throttled.status_code, error_of(throttled)["code"]) == (400, 130429)
    assert healthy.status_code == 200
    assert len(sandbox.get("/_sandbox/sent").json()["data"]) == 1


def test_latency_delays_cloud_api_answers(sandbox, receiver):
    sandbox.put("/_sandbox/config", json={"latency_ms": 150}).raise_for_status()

    started = time.monotonic()
    send(sandbox, {"to": CUSTOMER, **template()})

    assert time.monotonic() - started >= 0.15


def test_media_upload_metadata_and_download_with_token(sandbox, receiver):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    upload = sandbox.post(
        f"/v23.0/{PHONE_NUMBER_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("dot.png", PNG, "image/png")},
        headers=auth,
    )
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["id"]

    metadata = sandbox.get(f"/v23.0/{media_id}", headers=auth).json()
    assert metadata["messaging_product"] == "whatsapp"
    assert metadata["id"] == media_id
    assert metadata["mime_type"] == "image/png"
    assert metadata["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert metadata["file_size"] == len(PNG)
    assert metadata["url"].startswith(str(sandbox.base_url).rstrip("/") + "/_sandbox/media/")

    download = sandbox.get(metadata["url"], headers=auth)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["Content-Type"] == "image/png"
    assert sandbox.get(metadata["url"]).status_code == 401
    assert (
        error_of(sandbox.get(f"/v23.0/{media_id}", headers={"Authorization": "Bearer nope"}))["code"] == 190
    )

    customer_says(sandbox)
    sent = send(
        sandbox, {"to": CUSTOMER, "type": "image", "image": {"id": media_id, "caption": "Your receipt"}}
    )
    assert sent.status_code == 200
    unknown = send(sandbox, {"to": CUSTOMER, "type": "image", "image": {"id": "999"}})
    assert error_of(unknown)["code"] == 100


def test_inbound_image_can_be_fetched_by_the_app(sandbox, receiver):
    original = customer_says(sandbox, "first")
    response = sandbox.post(
        f"/_sandbox/customers/{CUSTOMER}/messages",
        json={
            "to": PHONE_NUMBER_ID,
            "type": "image",
            "media_base64": base64.b64encode(PNG).decode(),
            "mime_type": "image/png",
            "caption": "the broken part",
            "reply_to": original,
        },
    )
    assert response.status_code == 200

    message = receiver.payloads(2)[1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["type"] == "image"
    assert message["context"] == {"from": CUSTOMER, "id": original}
    image = message["image"]
    assert image["caption"] == "the broken part"
    assert image["mime_type"] == "image/png"
    assert image["sha256"] == hashlib.sha256(PNG).hexdigest()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = sandbox.get(f"/v23.0/{image['id']}", headers=auth).json()["url"]
    assert sandbox.get(url, headers=auth).content == PNG


def test_customer_quoting_a_business_message_names_the_business_number(sandbox, receiver):
    customer_says(sandbox)
    wamid = send_text(sandbox).json()["messages"][0]["id"]

    customer_says(sandbox, "yes please", reply_to=wamid)

    inbound = [p for p in receiver.payloads(5) if "messages" in p["entry"][0]["changes"][0]["value"]]
    assert inbound[-1]["entry"][0]["changes"][0]["value"]["messages"][0]["context"] == {
        "from": "15550000001",
        "id": wamid,
    }


def test_templates_are_listed_page_by_page(sandbox, receiver):
    auth = {"Authorization": f"Bearer {TOKEN}"}

    first = sandbox.get(f"/v23.0/{WABA_ID}/message_templates", params={"limit": 2}, headers=auth).json()
    second = httpx.get(first["paging"]["next"], headers=auth).json()

    assert len(first["data"]) == 2 and len(second["data"]) == 2
    assert "next" not in second["paging"]
    templates = {t["name"]: t for t in first["data"] + second["data"]}
    assert set(templates) == {"hello_world", "order_update", "appointment_reminder", "summer_sale"}
    assert templates["hello_world"]["language"] == "en_US"
    assert templates["summer_sale"]["status"] == "REJECTED"
    assert all(t["status"] == "APPROVED" for n, t in templates.items() if n != "summer_sale")
    assert templates["order_update"]["components"][0]["text"] == "Hi {{1}}, your order {{2}} has shipped."
    kinds = [c["type"] for c in templates["appointment_reminder"]["components"]]
    assert kinds == ["HEADER", "BODY", "BUTTONS"]
    assert all(t["id"] and t["category"] for t in templates.values())
    after = sandbox.get(
        f"/v23.0/{WABA_ID}/message_templates",
        params={"after": first["paging"]["cursors"]["after"]},
        headers=auth,
    ).json()
    assert [t["name"] for t in after["data"]] == [t["name"] for t in second["data"]]
    denied = sandbox.get(f"/v23.0/{WABA_ID}/message_templates", headers={"Authorization": "Bearer x"})
    assert denied.status_code == 401


def test_business_marks_an_inbound_message_read(sandbox, receiver):
    wamid = customer_says(sandbox)

    response = send(sandbox, {"status": "read", "message_id": wamid})

    assert response.json() == {"success": True}
    thread = sandbox.get(f"/_sandbox/customers/{CUSTOMER}/thread", params={"number": PHONE_NUMBER_ID}).json()
    assert thread[0]["status"] == "read"


def test_without_auto_read_replies_are_read_when_the_customer_opens_the_chat(sandbox, receiver):
    sandbox.put("/_sandbox/config", json={"auto_read": False}).raise_for_status()
    customer_says(sandbox)
    wamid = send_text(sandbox).json()["messages"][0]["id"]
    assert [s["status"] for s in statuses(receiver.payloads(3))] == ["sent", "delivered"]

    opened = sandbox.post(f"/_sandbox/customers/{CUSTOMER}/read", json={"number": PHONE_NUMBER_ID})

    assert opened.json() == {"read": 1}
    assert [(s["id"], s["status"]) for s in statuses(receiver.payloads(4))][-1] == (wamid, "read")


def test_failed_webhook_delivery_is_retried(sandbox, receiver):
    receiver.status_codes.extend([500, 503])

    customer_says(sandbox)

    requests = receiver.wait_for(3)
    assert [r["status"] for r in requests] == [500, 503, 200]
    assert requests[0]["body"] == requests[2]["body"]
    deadline = time.monotonic() + 5
    while not (log := sandbox.get("/_sandbox/webhooks").json()["data"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log[-1]["ok"] is True and log[-1]["attempts"] == 3


def test_numbers_are_listed_without_secrets(sandbox, receiver):
    numbers = sandbox.get("/_sandbox/numbers").json()["data"]

    assert [n["phone_number_id"] for n in numbers] == [PHONE_NUMBER_ID]
    assert "access_token" not in numbers[0] and "app_secret" not in numbers[0]
    assert TOKEN not in sandbox.get("/_sandbox/numbers").text
    assert sandbox.delete(f"/_sandbox/numbers/{PHONE_NUMBER_ID}").status_code == 200
    assert sandbox.get("/_sandbox/numbers").json()["data"] == []


def test_reset_clears_threads_but_keeps_numbers(sandbox, receiver):
    customer_says(sandbox)

    sandbox.post("/_sandbox/reset", json={}).raise_for_status()

    assert (
        sandbox.get(f"/_sandbox/customers/{CUSTOMER}/thread", params={"number": PHONE_NUMBER_ID}).json() == []
    )
    assert len(sandbox.get("/_sandbox/numbers").json()["data"]) == 1
    sandbox.post("/_sandbox/reset", json={"numbers": True}).raise_for_status()
    assert sandbox.get("/_sandbox/numbers").json()["data"] == []


def test_customer_pages_are_served(sandbox, receiver):
    index = sandbox.get("/")
    phone = sandbox.get(f"/phone/{CUSTOMER}", params={"number": PHONE_NUMBER_ID})

    assert index.status_code == 200 and "customer phones" in index.text
    assert phone.status_code == 200 and "/_sandbox/customers/" in phone.text
    assert "http" not in phone.text.split("<script>")[0].replace('lang="en"', "")


def test_state_file_survives_a_restart(tmp_path, receiver):
    state_file = str(tmp_path / "sandbox.json")
    server, client = start(state_file)
    register(client, receiver.url)
    wamid = customer_says(client, "remember me")
    stop(server, client)

    server, client = start(state_file)
    try:
        numbers = client.get("/_sandbox/numbers").json()["data"]
        thread = client.get(
            f"/_sandbox/customers/{CUSTOMER}/thread", params={"number": PHONE_NUMBER_ID}
        ).json()
        reply = send_text(client)
    finally:
        stop(server, client)

    assert [n["phone_number_id"] for n in numbers] == [PHONE_NUMBER_ID]
    assert [m["id"] for m in thread] == [wamid]
    assert reply.status_code == 200
