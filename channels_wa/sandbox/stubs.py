"""Loopback stand-ins for Twilio's Messages API and the Messenger/Instagram Send API, mounted on the sandbox
server. They speak the real wire formats and call the app back signed as the real services sign
(X-Twilio-Signature with the auth token; X-Hub-Signature-256 with the app secret), so the real provider code
(the `twilio` SDK, the Graph client) runs against them.

Twilio:    /twilio/2010-04-01/Accounts/{sid}/Messages.json (the SDK's base URL is `{sandbox}/twilio`)
Messenger: /graph/{version}/{page or Instagram id}/messages, /graph/{version}/{user id} (profiles)
Control:   PUT /_stubs/twilio/numbers/{number}, POST /_stubs/twilio/customers/{number}/messages,
           PUT /_stubs/meta/pages/{id}, POST /_stubs/meta/customers/{user id}/messages,
           POST /_stubs/meta/pages/{id}/echo, GET /_stubs/sent
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from twilio.request_validator import RequestValidator

from .delivery import Timer, WebhookDispatcher

WINDOW_S = 24 * 3600
HUMAN_AGENT_WINDOW_S = 7 * 24 * 3600
WHATSAPP = "whatsapp:"
STUB_APP_ID = "555000111222333"
TWILIO_TEMPLATES = [
    ("HX" + "0" * 31 + "1", "order_update", "Hi {{1}}, your order {{2}} has shipped."),
    ("HX" + "0" * 31 + "2", "appointment_reminder", "Hi {{1}}, see you tomorrow at {{2}}."),
]


class StubError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(str(body))
        self.status, self.body = status, body


def _twilio_error(status: int, code: int, message: str) -> StubError:
    return StubError(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _graph_error(code: int, message: str, subcode: int | None = None, status: int = 400) -> StubError:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "stub"}
    if subcode:
        error["error_subcode"] = subcode
    return StubError(status, {"error": error})


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _bare(number: str) -> str:
    return number[len(WHATSAPP) :] if number.startswith(WHATSAPP) else number


class ChannelStubs:
    def __init__(self, dispatcher: WebhookDispatcher, timer: Timer) -> None:
        self.dispatcher, self.timer = dispatcher, timer
        self.lock = threading.Lock()
        self.twilio_numbers: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.opted_out: set[str] = set()
        self.last_inbound: dict[tuple[str, str], float] = {}  # (our id, customer) → unix time
        self.media: dict[str, tuple[bytes, str]] = {}
        self.sent: deque[dict[str, Any]] = deque(maxlen=500)
        self.status_delay_s = 0.05

    # Routing

    def handles(self, path: str) -> bool:
        return path == "/_stubs" or path.startswith(("/twilio/", "/graph/", "/graph-media/", "/_stubs/"))

    def route(self, method: str, path: str, query: dict[str, str], headers, body: bytes, base_url: str):
        """(status, body bytes, content type)."""
        try:
            return self._route(method, path, query, headers, body, base_url)
        except StubError as exc:
            return exc.status, json.dumps(exc.body).encode(), "application/json"

    def _route(self, method, path, query, headers, body, base_url):
        auth = headers.get("Authorization", "")
        table = [
            ("POST", r"/twilio/2010-04-01/Accounts/(\w+)/Messages\.json", self.twilio_send),
            ("GET", r"/twilio/2010-04-01/Accounts/(\w+)/Messages/(\w+)/Media/(\w+)", self.twilio_media),
            ("GET", r"/twilio/content/v1/ContentAndApprovals", self.twilio_templates),
            ("POST", r"/graph/v[\d.]+/(\w+)/messages", self.graph_send),
            ("GET", r"/graph/v[\d.]+/(\w+)", self.graph_profile),
            ("GET", r"/graph-media/(\w+)", self.graph_media),
            ("PUT", r"/_stubs/twilio/numbers/([^/]+)", self.twilio_register),
            ("POST", r"/_stubs/twilio/customers/([^/]+)/messages", self.twilio_customer_message),
            ("POST", r"/_stubs/twilio/opt-outs/([^/]+)", self.twilio_opt_out),
            ("PUT", r"/_stubs/meta/pages/(\w+)", self.page_register),
            ("POST", r"/_stubs/meta/customers/(\w+)/messages", self.meta_customer_message),
            ("POST", r"/_stubs/meta/pages/(\w+)/echo", self.meta_page_echo),
            ("POST", r"/_stubs/meta/customers/(\w+)/age", self.meta_age_window),
            ("GET", r"/_stubs/sent", self.list_sent),
            ("GET", r"/_stubs/channels", self.list_channels),
            ("GET", r"/_stubs", lambda **_: (200, CUSTOMER_PAGE.encode(), "text/html; charset=utf-8")),
        ]
        for route_method, pattern, view in table:
            match = re.fullmatch(pattern + "/?", path)
            if match and route_method == method:
                # The customer page percent-encodes the phone ("+" becomes %2B): path parts are decoded.
                parts = (unquote(part) for part in match.groups())
                result = view(*parts, query=query, auth=auth, body=body, base_url=base_url)
                if isinstance(result, tuple):
                    return result
                return 200, json.dumps(result).encode(), "application/json"
        raise StubError(
            404, {"error": {"code": "not_found", "message": f"no stub route for {method} {path}"}}
        )

    # Twilio

    def twilio_register(self, number, *, body, **_):
        data = json.loads(body or b"{}")
        with self.lock:
            self.twilio_numbers[_bare(number)] = {
                "account_sid": data["account_sid"],
                "auth_token": data["auth_token"],
                "webhook_url": data.get("webhook_url", ""),
            }
        return {"number": _bare(number), "registered": True}

    def _twilio_auth(self, account_sid: str, auth: str) -> list[dict[str, Any]]:
        try:
            user, _, token = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = token = ""
        numbers = [
            n
            for n in self.twilio_numbers.values()
            if n["account_sid"] == account_sid == user and n["auth_token"] == token
        ]
        if not numbers:
            raise _twilio_error(401, 20003, "Authenticate")
        return numbers

    def twilio_send(self, account_sid, *, auth, body, base_url, **_):
        self._twilio_auth(account_sid, auth)
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        sender, to = params.get("From", ""), params.get("To", "")
        number = self.twilio_numbers.get(_bare(sender))
        if number is None or number["account_sid"] != account_sid:
            raise _twilio_error(
                400, 21606, "The From phone number is not a valid, SMS-capable inbound phone number"
            )
        if not to:
            raise _twilio_error(400, 21604, "A 'To' phone number is required.")
        if _bare(to) in self.opted_out:
            raise _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not (params.get("Body") or params.get("MediaUrl") or params.get("ContentSid")):
            raise _twilio_error(400, 21602, "Message body is required.")
        is_whatsapp = to.startswith(WHATSAPP)
        text = params.get("Body", "")
        segments = max(1, -(-len(text) // 153)) if len(text) > 160 else 1
        sid = _sid("SM")
        now = time.time()
        record = {
            "provider": "twilio",
            "sid": sid,
            "account_sid": account_sid,
            "from": sender,
            "to": to,
            "body": text,
            "status": "queued",
            "num_segments": str(segments),
            "num_media": "1" if params.get("MediaUrl") else "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now)),
            "date_updated": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now)),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        }
        with self.lock:
            self.sent.append({**record, "content_sid": params.get("ContentSid", ""), "params": params})
        callback = params.get("StatusCallback", "")
        last_inbound = self.last_inbound.get((_bare(sender), _bare(to)))
        outside_window = (
            is_whatsapp
            and not params.get("ContentSid")
            and (last_inbound is None or now - last_inbound > WINDOW_S)
        )
        if outside_window:
            chain = [("failed", "63016")]
        else:
            chain = [("sent", ""), ("delivered", "")] + ([("read", "")] if is_whatsapp else [])
        if callback:
            for index, (state, error_code) in enumerate(chain, start=1):
                self.timer.call_later(
                    self.status_delay_s * index,
                    lambda state=state, error_code=error_code: self._twilio_status(
                        number, callback, sid, account_sid, sender, to, state, error_code
                    ),
                )
        return 201, json.dumps(record).encode(), "application/json"

    def _twilio_status(self, number, url, sid, account_sid, sender, to, state, error_code) -> None:
        params = {
            "SmsSid": sid,
            "SmsStatus": state,
            "MessageStatus": state,
            "To": to,
            "MessageSid": sid,
            "AccountSid": account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        self._twilio_post(number["auth_token"], url, params, "status")

    def _twilio_post(self, auth_token: str, url: str, params: dict[str, str], kind: str) -> None:
        signature = RequestValidator(auth_token).compute_signature(url, params)
        self.dispatcher.enqueue_raw(
            url=url,
            body=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                "User-Agent": "TwilioProxy/1.1",
            },
            kind=f"twilio.{kind}",
        )

    def twilio_customer_message(self, customer, *, body, base_url, **_):
        """A customer texts (or WhatsApps) one of the registered numbers."""
        data = json.loads(body or b"{}")
        to = _bare(data["to"])
        number = self.twilio_numbers.get(to)
        if number is None:
            raise StubError(404, {"error": {"code": "unknown_number", "message": f"{to} is not registered"}})
        is_whatsapp = data.get("channel", "sms") == "whatsapp"
        prefix = WHATSAPP if is_whatsapp else ""
        customer = _bare(customer) if customer.startswith("+") else f"+{customer}"
        sid = _sid("SM") if not data.get("media_base64") else _sid("MM")
        text = str(data.get("text", ""))
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": text,
            "To": f"{prefix}{to}",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": number["account_sid"],
            "From": f"{prefix}{customer}",
            "ApiVersion": "2010-04-01",
        }
        if is_whatsapp:
            params.update(ProfileName=str(data.get("profile_name", "")), WaId=customer.lstrip("+"))
        if data.get("media_base64"):
            media_sid = _sid("ME")
            mime_type = str(data.get("mime_type") or "image/jpeg")
            with self.lock:
                self.media[media_sid] = (base64.b64decode(data["media_base64"]), mime_type)
            params.update(
                NumMedia="1",
                MediaContentType0=mime_type,
                MediaUrl0=f"{base_url}/twilio/2010-04-01/Accounts/{number['account_sid']}/Messages/{sid}/Media/{media_sid}",
            )
        if (
            text.strip().upper() in ("STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "CANCEL")
            and not is_whatsapp
        ):
            with self.lock:
                self.opted_out.add(customer)
            params["OptOutType"] = "STOP"
        elif text.strip().upper() in ("START", "UNSTOP", "YES") and not is_whatsapp:
            with self.lock:
                self.opted_out.discard(customer)
            params["OptOutType"] = "START"
        with self.lock:
            self.last_inbound[(to, customer)] = time.time() - float(data.get("age_s", 0))
        self._twilio_post(number["auth_token"], number["webhook_url"], params, "message")
        return {"sid": sid, "params": params}

    def twilio_templates(self, *, auth, base_url, **_):
        """GET /v1/ContentAndApprovals: two approved WhatsApp templates for every account."""
        try:
            account_sid = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")[0]
        except ValueError:
            account_sid = ""
        self._twilio_auth(account_sid, auth)
        contents = [
            {
                "sid": sid,
                "account_sid": account_sid,
                "friendly_name": name,
                "language": "en",
                "variables": {"1": "Carla", "2": "A-1001"},
                "types": {"twilio/text": {"body": body}},
                "approval_requests": {"name": name, "category": "UTILITY", "status": "approved"},
                "date_created": "2026-01-01T00:00:00Z",
                "date_updated": "2026-01-01T00:00:00Z",
            }
            for sid, name, body in TWILIO_TEMPLATES
        ]
        url = f"{base_url}/twilio/content/v1/ContentAndApprovals?PageSize=50&Page=0"
        meta = {"page": 0, "page_size": 50, "first_page_url": url, "previous_page_url": None, "url": url}
        return {"contents": contents, "meta": {**meta, "next_page_url": None, "key": "contents"}}

    def twilio_opt_out(self, customer, **_):
        with self.lock:
            self.opted_out.add(_bare(customer))
        return {"opted_out": _bare(customer)}

    def twilio_media(self, account_sid, message_sid, media_sid, *, auth, **_):
        self._twilio_auth(account_sid, auth)
        if media_sid not in self.media:
            raise _twilio_error(404, 20404, "The requested resource was not found")
        content, mime_type = self.media[media_sid]
        return 200, content, mime_type

    # Messenger and Instagram

    def page_register(self, page_id, *, body, **_):
        data = json.loads(body or b"{}")
        with self.lock:
            self.pages[page_id] = {
                "object": data.get("object", "page"),
                "access_token": data["access_token"],
                "app_secret": data["app_secret"],
                "webhook_url": data.get("webhook_url", ""),
                "profiles": data.get("profiles", {}),
            }
        return {"id": page_id, "registered": True}

    def _page(self, page_id: str, auth: str, query: dict[str, str]) -> dict[str, Any]:
        page = self.pages.get(page_id)
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else query.get("access_token", "")
        if page is None or page["access_token"] != token:
            raise _graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        return page

    def graph_send(self, page_id, *, auth, query, body, **_):
        page = self._page(page_id, auth, query)
        data = json.loads(body or b"{}")
        recipient = str((data.get("recipient") or {}).get("id") or "")
        message = data.get("message") or {}
        if not recipient or not message:
            raise _graph_error(100, "(#100) The parameter recipient is required")
        last_inbound = self.last_inbound.get((page_id, recipient))
        age = None if last_inbound is None else time.time() - last_inbound
        is_tagged = data.get("messaging_type") == "MESSAGE_TAG" and data.get("tag") == "HUMAN_AGENT"
        allowed_s = HUMAN_AGENT_WINDOW_S if is_tagged else WINDOW_S
        if age is None or age > allowed_s:
            raise _graph_error(10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
        mid = "m_" + secrets.token_urlsafe(24)
        with self.lock:
            self.sent.append({"provider": page["object"], "page_id": page_id, "message_id": mid, **data})
        now_ms = int(time.time() * 1000)
        echo = {
            "sender": {"id": page_id},
            "recipient": {"id": recipient},
            "timestamp": now_ms,
            "message": {"is_echo": True, "app_id": int(STUB_APP_ID), "mid": mid, **message},
        }
        self.timer.call_later(self.status_delay_s, lambda: self._page_post(page_id, [echo], "echo"))
        for index, kind in enumerate(["read"] if page["object"] == "instagram" else ["delivery", "read"], 2):
            self.timer.call_later(
                self.status_delay_s * index,
                lambda kind=kind: self._page_post(
                    page_id, [self._receipt(page_id, recipient, mid, kind)], kind
                ),
            )
        return {"recipient_id": recipient, "message_id": mid}

    def _receipt(self, page_id: str, recipient: str, mid: str, kind: str) -> dict[str, Any]:
        """A delivery or read receipt as the customer's app sends it, stamped when it happens."""
        now_ms = int(time.time() * 1000)
        if self.pages[page_id]["object"] == "instagram":
            value: dict[str, Any] = {"mid": mid}
        elif kind == "delivery":
            value = {"mids": [mid], "watermark": now_ms}
        else:
            value = {"watermark": now_ms}
        return {"sender": {"id": recipient}, "recipient": {"id": page_id}, "timestamp": now_ms, kind: value}

    def _page_post(self, page_id: str, messaging: list[dict[str, Any]], kind: str) -> None:
        page = self.pages[page_id]
        payload = {
            "object": page["object"],
            "entry": [{"id": page_id, "time": int(time.time() * 1000), "messaging": messaging}],
        }
        self.dispatcher.enqueue(
            url=page["webhook_url"], app_secret=page["app_secret"], payload=payload, kind=f"meta.{kind}"
        )

    def graph_profile(self, user_id, *, auth, query, **_):
        for page_id, page in self.pages.items():
            if user_id in page["profiles"]:
                self._page(page_id, auth, query)
                return {"id": user_id, **page["profiles"][user_id]}
        raise _graph_error(100, f"(#100) Unsupported get request. Object with ID '{user_id}' does not exist")

    def graph_media(self, media_id, **_):
        if media_id not in self.media:
            raise StubError(404, {"error": {"message": "not found"}})
        content, mime_type = self.media[media_id]
        return 200, content, mime_type

    def meta_customer_message(self, user_id, *, body, base_url, **_):
        """A customer writes to a page (Messenger) or an Instagram account."""
        data = json.loads(body or b"{}")
        page_id = str(data["to"])
        if page_id not in self.pages:
            raise StubError(
                404, {"error": {"code": "unknown_page", "message": f"{page_id} is not registered"}}
            )
        mid = "m_" + secrets.token_urlsafe(24)
        message: dict[str, Any] = {"mid": mid}
        if data.get("text"):
            message["text"] = str(data["text"])
        if data.get("media_base64"):
            media_id = secrets.token_hex(8)
            mime_type = str(data.get("mime_type") or "image/png")
            with self.lock:
                self.media[media_id] = (base64.b64decode(data["media_base64"]), mime_type)
            kind = {"image": "image", "video": "video", "audio": "audio"}.get(mime_type.split("/")[0], "file")
            message["attachments"] = [
                {"type": kind, "payload": {"url": f"{base_url}/graph-media/{media_id}"}}
            ]
        if data.get("story_reply"):
            message["reply_to"] = {"story": {"url": f"{base_url}/graph-media/story", "id": "story-1"}}
        if data.get("name"):
            self.pages[page_id]["profiles"].setdefault(user_id, self._profile(page_id, str(data["name"])))
        with self.lock:
            self.last_inbound[(page_id, user_id)] = time.time() - float(data.get("age_s", 0))
        item = {
            "sender": {"id": user_id},
            "recipient": {"id": page_id},
            "timestamp": int(time.time() * 1000),
            "message": message,
        }
        self._page_post(page_id, [item], "message")
        return {"mid": mid}

    def _profile(self, page_id: str, name: str) -> dict[str, str]:
        picture = f"https://stub.invalid/profile/{secrets.token_hex(4)}.jpg"
        if self.pages[page_id]["object"] == "instagram":
            return {"name": name, "username": name.lower().replace(" ", "."), "profile_pic": picture}
        first, _, last = name.partition(" ")
        return {"first_name": first, "last_name": last, "profile_pic": picture}

    def meta_page_echo(self, page_id, *, body, **_):
        """The page writes to a customer from elsewhere (the Page inbox, another app)."""
        data = json.loads(body or b"{}")
        mid = "m_" + secrets.token_urlsafe(24)
        echo = {
            "sender": {"id": page_id},
            "recipient": {"id": str(data["to"])},
            "timestamp": int(time.time() * 1000),
            "message": {
                "is_echo": True,
                "app_id": 263902037430900,
                "mid": mid,
                "text": str(data.get("text", "")),
            },
        }
        self._page_post(page_id, [echo], "echo")
        return {"mid": mid}

    def meta_age_window(self, user_id, *, body, **_):
        """Pretend the customer's last message is `age_s` old (window tests)."""
        data = json.loads(body or b"{}")
        with self.lock:
            self.last_inbound[(str(data["to"]), user_id)] = time.time() - float(data["age_s"])
        return {"ok": True}

    def list_channels(self, **_):
        with self.lock:
            return {
                "twilio": [
                    {"number": n, "webhook_url": v["webhook_url"]} for n, v in self.twilio_numbers.items()
                ],
                "meta": [
                    {"id": i, "object": v["object"], "webhook_url": v["webhook_url"]}
                    for i, v in self.pages.items()
                ],
            }

    def list_sent(self, *, query, **_):
        provider = query.get("provider")
        return {"data": [item for item in self.sent if not provider or item["provider"] == provider]}


# A person plays the customer here: pick a channel, write, and watch what the business sent back.
CUSTOMER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Twilio, Messenger and Instagram customers</title><link rel="icon" href="data:,">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f1f5f9;color:#0f172a}
header{background:#334155;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
main{max-width:960px;margin:0 auto;padding:16px}
section{background:#fff;border-radius:8px;padding:16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
h2{font-size:16px;margin:0 0 12px}form{display:flex;gap:8px;flex-wrap:wrap;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;gap:4px;color:#475569}
input,select,button{font:inherit;padding:8px;border:1px solid #cbd5e1;border-radius:6px}
button{background:#334155;color:#fff;border:0;cursor:pointer}
table{width:100%;border-collapse:collapse;font-size:14px}td,th{text-align:left;padding:6px 8px;
border-bottom:1px solid #e2e8f0;word-break:break-all}.muted{color:#64748b;font-size:13px}
</style></head><body><header><h1>Customers on Twilio (SMS, WhatsApp), Messenger and Instagram</h1></header>
<main><section><h2>Write as a customer</h2>
<form id="send"><label>Business channel<select id="channel" required></select></label>
<label>Customer (phone for Twilio, a numeric id for Messenger/Instagram)<input id="from" required
placeholder="+15557001234"></label><label>Name<input id="name" placeholder="Carla"></label>
<label>Message<input id="text" required placeholder="Hello!"></label><button>Send</button></form>
<p class="muted" id="result"></p></section>
<section><h2>What the business sent</h2>
<table><thead><tr><th>Network</th><th>To</th><th>Text</th></tr></thead>
<tbody id="sent"></tbody></table></section></main>
<script>
const $ = (id) => document.getElementById(id);
async function loadChannels() {
  const data = await (await fetch("/_stubs/channels")).json();
  const options = [];
  for (const n of data.twilio) {
    options.push(["twilio|sms|" + n.number, "SMS " + n.number]);
    options.push(["twilio|whatsapp|" + n.number, "WhatsApp " + n.number]);
  }
  for (const p of data.meta) {
    options.push(["meta||" + p.id, (p.object === "instagram" ? "Instagram " : "Messenger ") + p.id]);
  }
  $("channel").replaceChildren(...options.map(([value, label]) => new Option(label, value)));
}
async function loadSent() {
  const data = await (await fetch("/_stubs/sent")).json();
  $("sent").replaceChildren(...data.data.slice().reverse().map((item) => {
    const row = document.createElement("tr");
    const text = item.body || (item.message && (item.message.text || "[attachment]"))
      || item.content_sid || "";
    const to = item.to || (item.recipient && item.recipient.id) || "";
    for (const value of [item.provider, to, text]) {
      const cell = document.createElement("td"); cell.textContent = value; row.append(cell);
    }
    return row;
  }));
}
$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const [kind, network, to] = $("channel").value.split("|");
  const from = encodeURIComponent($("from").value.trim());
  const url = kind === "twilio"
    ? `/_stubs/twilio/customers/${from}/messages` : `/_stubs/meta/customers/${from}/messages`;
  const body = kind === "twilio"
    ? {to, channel: network, text: $("text").value, profile_name: $("name").value}
    : {to, text: $("text").value, name: $("name").value};
  const response = await fetch(url, {method: "POST", body: JSON.stringify(body)});
  $("result").textContent = response.ok ? "Sent." : "Refused: " + (await response.text());
  $("text").value = "";
});
loadChannels(); loadSent(); setInterval(loadSent, 2000);
</script></body></html>
"""
