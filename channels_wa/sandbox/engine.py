"""What the sandbox does, independent of HTTP: Cloud API sends with Meta's rules, customer messages, status
callbacks, media and templates. Methods return JSON-able results or raise `ApiError` / `ControlError`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections import deque
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode

from .delivery import Timer, WebhookDispatcher
from .state import DEFAULT_CONFIG, WINDOW_S, SandboxState, digits_of, new_numeric_id, new_wamid

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = (
    "text",
    *MEDIA_TYPES,
    "template",
    "reaction",
    "location",
    "interactive",
    "contacts",
)
INBOUND_TYPES = ("text", *MEDIA_TYPES, "location", "reaction", "interactive", "button")
STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
MAX_MEDIA_BYTES = 100 * 1024 * 1024
# code -> (HTTP status, title, details) for errors Meta answers synchronously.
KNOWN_ERRORS: dict[int, tuple[int, str, str]] = {
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131016: (503, "Service unavailable", "A service is temporarily unavailable. Please retry later."),
    131026: (400, "Message undeliverable", "Unable to deliver message."),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be sent from this "
        "phone number.",
    ),
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number to the same "
        "phone number in a short period of time.",
    ),
    132000: (400, "Number of parameters does not match the expected number of params", ""),
    132001: (404, "Template name does not exist in the translation", ""),
}
REENGAGEMENT_ERROR = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    },
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


class ApiError(Exception):
    """An error answered in Meta's Graph API error shape."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        details: str = "",
        http_status: int = 400,
        subcode: int | None = None,
        is_transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        if is_transient is not None:
            error["is_transient"] = is_transient
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        self.http_status = http_status
        self.body = {"error": error}


class ControlError(Exception):
    """An error of the sandbox's own control API (OmniDesk's error shape)."""

    def __init__(self, http_status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.body = {"error": {"code": code, "message": message, "details": {}}}


def meta_error(code: int, details: str = "") -> ApiError:
    http_status, title, default_details = KNOWN_ERRORS.get(code, (400, "Injected error", ""))
    return ApiError(
        code, f"(#{code}) {title}", details=details or default_details or title, http_status=http_status
    )


def invalid_parameter(details: str) -> ApiError:
    return ApiError(100, "(#100) Invalid parameter", details=details)


def unknown_object(object_id: str) -> ApiError:
    return ApiError(
        100,
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation.",
        subcode=33,
    )


def invalid_token() -> ApiError:
    return ApiError(190, "Invalid OAuth access token - Cannot parse access token", http_status=401)


def bearer_token(authorization: str) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def template_params(components: list[dict[str, Any]], component_type: str) -> list[str]:
    for component in components or []:
        if str(component.get("type", "")).lower() == component_type:
            values = []
            for parameter in component.get("parameters") or []:
                kind = parameter.get("type", "text")
                value = parameter.get(kind)
                if isinstance(value, dict):
                    value = value.get("fallback_value") or value.get("link") or value.get("id") or ""
                values.append(str(value if value is not None else ""))
            return values
    return []


def render_placeholders(text: str, values: list[str]) -> str:
    return PLACEHOLDER.sub(
        lambda m: values[int(m.group(1)) - 1] if int(m.group(1)) <= len(values) else m.group(0), text
    )


class Sandbox:
    def __init__(self, state: SandboxState, dispatcher: WebhookDispatcher, timer: Timer) -> None:
        self.state = state
        self.dispatcher = dispatcher
        self.timer = timer

    # -- control: numbers and config ---------------------------------------------------------------------

    def number_put(self, phone_number_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if not phone_number_id.strip():
            raise ControlError(400, "invalid", "phone_number_id is required")
        try:
            number = self.state.number_put(phone_number_id, data)
        except (TypeError, ValueError) as exc:
            raise ControlError(400, "invalid", f"bad number settings: {exc}") from exc
        return self.state.public_number(number)

    def numbers_list(self) -> dict[str, Any]:
        with self.state.lock:
            return {"data": [self.state.public_number(n) for n in self.state.numbers.values()]}

    def number_get(self, phone_number_id: str) -> dict[str, Any]:
        return self.state.public_number(self._control_number(phone_number_id))

    def number_delete(self, phone_number_id: str) -> dict[str, Any]:
        with self.state.lock:
            self._control_number(phone_number_id)
            del self.state.numbers[phone_number_id]
            self.state.mark_dirty()
        return {"deleted": phone_number_id}

    def config_put(self, data: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(data) - set(DEFAULT_CONFIG))
        if unknown:
            raise ControlError(400, "invalid", f"unknown config keys: {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        try:
            for key, value in data.items():
                default = DEFAULT_CONFIG[key]
                if key == "fail_code":
                    parsed[key] = str(value) if str(value) == "500" else int(value)
                elif isinstance(default, bool):
                    parsed[key] = (
                        value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                    )
                elif isinstance(default, float):
                    parsed[key] = float(value)
                else:
                    parsed[key] = int(value)
        except (TypeError, ValueError) as exc:
            raise ControlError(400, "invalid", f"bad config value: {exc}") from exc
        if not 0 <= parsed.get("fail_rate", 0) <= 1:
            raise ControlError(400, "invalid", "fail_rate must be between 0 and 1")
        with self.state.lock:
            self.state.config.update(parsed)
            self.state.mark_dirty()
            return dict(self.state.config)

    def config_get(self) -> dict[str, Any]:
        with self.state.lock:
            return dict(self.state.config)

    def reset(self, data: dict[str, Any]) -> dict[str, Any]:
        self.state.reset(numbers=bool(data.get("numbers")))
        self.dispatcher.log.clear()
        return {"reset": True}

    def _control_number(self, phone_number_id: str) -> dict[str, Any]:
        number = self.state.numbers.get(phone_number_id)
        if number is None:
            raise ControlError(404, "not_found", f"no sandbox number {phone_number_id}")
        return number

    # -- control: customers ------------------------------------------------------------------------------

    def customers_list(self, phone_number_id: str = "") -> dict[str, Any]:
        with self.state.lock:
            rows = []
            for customer in self.state.customers.values():
                if phone_number_id and customer["phone_number_id"] != phone_number_id:
                    continue
                rows.append(
                    {
                        "phone_number_id": customer["phone_number_id"],
                        "wa_id": customer["wa_id"],
                        "profile_name": customer["profile_name"],
                        "last_inbound_at": customer["last_inbound_at"],
                        "has_open_window": self.state.has_open_window(
                            customer["phone_number_id"], customer["wa_id"], time.time()
                        ),
                    }
                )
            return {"data": rows}

    def customer_message(self, digits: str, data: dict[str, Any]) -> dict[str, Any]:
        digits = self._customer_digits(digits)
        phone_number_id = str(data.get("to") or data.get("number") or "")
        kind = str(data.get("type") or "text")
        if kind not in INBOUND_TYPES:
            raise ControlError(400, "invalid", f"type must be one of {', '.join(INBOUND_TYPES)}")
        now = time.time()
        wamid = new_wamid()
        with self.state.lock:
            number = self._control_number(phone_number_id)
            message: dict[str, Any] = {
                "id": wamid,
                "phone_number_id": phone_number_id,
                "wa_id": digits,
                "direction": "in",
                "type": kind,
                "timestamp": now,
                "status": "received",
                "errors": [],
                "text": "",
            }
            wire: dict[str, Any] = {"from": digits, "id": wamid, "timestamp": str(int(now)), "type": kind}
            reply_to = str(data.get("reply_to") or "")
            if reply_to:
                quoted = self.state.messages.get(reply_to)
                if quoted is None:
                    raise ControlError(404, "not_found", f"reply_to message {reply_to} is unknown")
                quoted_from = (
                    digits_of(number["display_phone_number"]) if quoted["direction"] == "out" else digits
                )
                wire["context"] = {"from": quoted_from, "id": reply_to}
                message["context_id"] = reply_to
            self._inbound_content(kind, data, number, wire, message)
            customer = self.state.customer(phone_number_id, digits)
            customer["last_inbound_at"] = now
            if data.get("profile_name"):
                customer["profile_name"] = str(data["profile_name"])
            message["profile_name"] = customer["profile_name"]
            self.state.messages[wamid] = message
            self.state.mark_dirty()
            contact = {"profile": {"name": customer["profile_name"] or digits}, "wa_id": digits}
            payload = self._envelope(number, {"contacts": [contact], "messages": [wire]})
            url, secret = number["webhook_url"], number["app_secret"]
        self.dispatcher.enqueue(url=url, app_secret=secret, payload=payload, kind="message")
        return {"id": wamid}

    def _inbound_content(
        self,
        kind: str,
        data: dict[str, Any],
        number: dict[str, Any],
        wire: dict[str, Any],
        message: dict[str, Any],
    ) -> None:
        if kind == "text":
            body = str(data.get("text") or "")
            if not body:
                raise ControlError(400, "invalid", "text is required")
            wire["text"] = {"body": body}
            message["text"] = body
        elif kind in MEDIA_TYPES:
            try:
                raw = base64.b64decode(str(data.get("media_base64") or ""), validate=True)
            except ValueError as exc:
                raise ControlError(400, "invalid", "media_base64 is not valid base64") from exc
            if not raw:
                raise ControlError(400, "invalid", "media_base64 is required")
            mime_type = str(data.get("mime_type") or "application/octet-stream")
            filename = str(data.get("filename") or "")
            media = self._media_store(number["phone_number_id"], raw, mime_type, filename)
            content = {"mime_type": mime_type, "sha256": media["sha256"], "id": media["id"]}
            if data.get("caption") and kind in ("image", "video", "document"):
                content["caption"] = message["caption"] = str(data["caption"])
            if kind == "document" and filename:
                content["filename"] = filename
            if kind == "audio":
                content["voice"] = bool(data.get("voice", False))
            wire[kind] = content
            message.update(
                media_id=media["id"], mime_type=mime_type, filename=filename, text=message.get("caption", "")
            )
        elif kind == "location":
            location = {key: data[key] for key in ("latitude", "longitude", "name", "address") if key in data}
            if "latitude" not in location or "longitude" not in location:
                raise ControlError(400, "invalid", "latitude and longitude are required")
            wire["location"] = location
            message["text"] = location.get("name") or f"{location['latitude']}, {location['longitude']}"
        elif kind == "reaction":
            target = str(data.get("reply_to") or data.get("message_id") or "")
            wire.pop("context", None)
            wire["reaction"] = {"message_id": target, "emoji": str(data.get("emoji") or "")}
            message["text"] = wire["reaction"]["emoji"]
        elif kind == "interactive":
            if "button_reply" in data:
                reply = {
                    "id": str(data["button_reply"].get("id", "")),
                    "title": str(data["button_reply"].get("title", "")),
                }
                wire["interactive"] = {"type": "button_reply", "button_reply": reply}
            elif "list_reply" in data:
                reply = {key: str(value) for key, value in data["list_reply"].items()}
                wire["interactive"] = {"type": "list_reply", "list_reply": reply}
            else:
                raise ControlError(400, "invalid", "interactive needs button_reply or list_reply")
            message["text"] = reply.get("title", "")
        elif kind == "button":
            button = data.get("button") or {}
            wire["button"] = {"payload": str(button.get("payload", "")), "text": str(button.get("text", ""))}
            message["text"] = wire["button"]["text"]

    def customer_thread(self, digits: str, phone_number_id: str) -> list[dict[str, Any]]:
        digits = self._customer_digits(digits)
        with self.state.lock:
            self._control_number(phone_number_id)
            return [self._public_message(m) for m in self.state.thread(phone_number_id, digits)]

    def customer_age_window(self, digits: str, data: dict[str, Any]) -> dict[str, Any]:
        digits = self._customer_digits(digits)
        phone_number_id = str(data.get("number") or "")
        try:
            hours = float(data.get("hours", 25))
        except (TypeError, ValueError) as exc:
            raise ControlError(400, "invalid", "hours must be a number") from exc
        with self.state.lock:
            self._control_number(phone_number_id)
            customer = self.state.customer(phone_number_id, digits)
            if customer["last_inbound_at"] is not None:
                customer["last_inbound_at"] -= hours * 3600
            if customer["conversation"]:
                customer["conversation"]["expires_at"] -= hours * 3600
            self.state.mark_dirty()
            return {
                "wa_id": digits,
                "last_inbound_at": customer["last_inbound_at"],
                "has_open_window": self.state.has_open_window(phone_number_id, digits, time.time()),
            }

    def customer_read(self, digits: str, data: dict[str, Any]) -> dict[str, Any]:
        """The customer opened the chat: every delivered business message becomes read."""
        digits = self._customer_digits(digits)
        phone_number_id = str(data.get("number") or "")
        with self.state.lock:
            self._control_number(phone_number_id)
            wamids = [
                m["id"]
                for m in self.state.thread(phone_number_id, digits)
                if m["direction"] == "out" and m["status"] == "delivered"
            ]
        for wamid in wamids:
            self._status(wamid, "read")
        return {"read": len(wamids)}

    def sent_list(self, phone_number_id: str) -> dict[str, Any]:
        with self.state.lock:
            rows = [
                self._public_message(m)
                for m in self.state.messages.values()
                if m["direction"] == "out"
                and (not phone_number_id or m["phone_number_id"] == phone_number_id)
            ]
        return {"data": rows}

    def webhook_log(self) -> dict[str, Any]:
        return {"data": list(self.dispatcher.log), "pending_timers": self.timer.pending()}

    def template_put(self, waba_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if not data.get("name") or not data.get("language"):
            raise ControlError(400, "invalid", "name and language are required")
        with self.state.lock:
            self.state.templates_ensure(waba_id)
            return self.state.template_put(waba_id, data)

    @staticmethod
    def _customer_digits(digits: str) -> str:
        if not digits.isdigit() or not 6 <= len(digits) <= 15:
            raise ControlError(400, "invalid", "the customer phone must be 6 to 15 digits (E.164 without +)")
        return digits

    @staticmethod
    def _public_message(message: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in message.items() if not key.startswith("_")}

    # -- Cloud API: auth -------------------------------------------------------------------------------

    def _authorized_number(self, phone_number_id: str, authorization: str) -> dict[str, Any]:
        number = self.state.numbers.get(phone_number_id)
        if number is None:
            raise unknown_object(phone_number_id)
        token = bearer_token(authorization)
        if not token or not hmac.compare_digest(token, number["access_token"]):
            raise invalid_token()
        return number

    def _authorized_waba(self, waba_id: str, authorization: str) -> list[dict[str, Any]]:
        numbers = [n for n in self.state.numbers.values() if n["waba_id"] == waba_id]
        if not numbers:
            raise unknown_object(waba_id)
        token = bearer_token(authorization)
        if not token or not any(hmac.compare_digest(token, n["access_token"]) for n in numbers):
            raise invalid_token()
        return numbers

    # -- Cloud API: messages -----------------------------------------------------------------------------

    def api_send(
        self, phone_number_id: str, authorization: str, raw_body: bytes, *, received_at: float | None = None
    ) -> dict[str, Any]:
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError as exc:
            raise invalid_parameter("The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise invalid_parameter("The request body must be a JSON object.")
        with self.state.lock:
            number = self._authorized_number(phone_number_id, authorization)
            if body.get("messaging_product") != "whatsapp":
                raise ApiError(
                    100,
                    "(#100) The parameter messaging_product is required.",
                    details="messaging_product must be whatsapp",
                )
            if body.get("status") == "read":
                return self._mark_read(phone_number_id, body)
            digits = digits_of(body.get("to", ""))
            if not digits:
                raise ApiError(
                    100, "(#100) The parameter to is required.", details="to must be a phone number"
                )
            kind = body.get("type", "text")
            preview = self._validate_outbound(number, kind, body)
            config = self.state.config
            if config["fail_rate"] and random.random() < config["fail_rate"]:
                raise self._injected_error(config["fail_code"])
            now = received_at if received_at is not None else time.time()
            self._check_rates(number, digits, now)
            wamid = new_wamid()
            is_window_needed = kind not in ("template", "reaction")
            is_failed = is_window_needed and not self.state.has_open_window(phone_number_id, digits, now)
            category = preview.pop("category", "")
            self.state.messages[wamid] = {
                "id": wamid,
                "phone_number_id": phone_number_id,
                "wa_id": digits,
                "direction": "out",
                "type": kind,
                "timestamp": now,
                "status": "accepted",
                "errors": [],
                "text": "",
                **preview,
                "context_id": (body.get("context") or {}).get("message_id", ""),
                "request": body,
                "request_body": raw_body.decode("utf-8", "replace"),
                "_category": category,
            }
            self.state.customer(phone_number_id, digits)
            self.state.mark_dirty()
            delay_s = max(0.0, float(config["status_delay_ms"]) / 1000)
            is_auto_read = bool(config["auto_read"])
        if is_failed:
            self.timer.call_later(delay_s, lambda: self._status(wamid, "failed", errors=[REENGAGEMENT_ERROR]))
        else:
            self.timer.call_later(delay_s, lambda: self._status(wamid, "sent"))
            self.timer.call_later(2 * delay_s, lambda: self._status(wamid, "delivered"))
            if is_auto_read:
                self.timer.call_later(3 * delay_s, lambda: self._status(wamid, "read"))
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": str(body["to"]), "wa_id": digits}],
            "messages": [{"id": wamid, **({"message_status": "accepted"} if kind == "template" else {})}],
        }

    def _mark_read(self, phone_number_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = self.state.messages.get(str(body.get("message_id") or ""))
        if message is None or message["phone_number_id"] != phone_number_id or message["direction"] != "in":
            raise invalid_parameter("message_id must be the id of a message this number received.")
        # Like WhatsApp, reading a message reads everything before it in the thread.
        for other in self.state.thread(phone_number_id, message["wa_id"]):
            if other["direction"] == "in" and other["timestamp"] <= message["timestamp"]:
                self.state.messages[other["id"]]["status"] = "read"
        self.state.mark_dirty()
        return {"success": True}

    def _validate_outbound(self, number: dict[str, Any], kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check the body like Meta does; return what the customer page shows."""
        if kind not in MESSAGE_TYPES:
            raise invalid_parameter(f"Param type must be one of {{{', '.join(MESSAGE_TYPES)}}}.")
        content = body.get(kind)
        if not isinstance(content, (dict, list)):
            raise ApiError(
                100, f"(#100) The parameter {kind} is required.", details=f"{kind} object is required"
            )
        if kind == "text":
            text = content.get("body")
            if not isinstance(text, str) or not text:
                raise ApiError(
                    100, "(#100) The parameter text['body'] is required.", details="text.body is required"
                )
            if len(text) > 4096:
                raise invalid_parameter("Param text['body'] must be at most 4096 characters long.")
            return {"text": text}
        if kind in MEDIA_TYPES:
            if not content.get("link") and not content.get("id"):
                raise invalid_parameter(f"Param {kind} must contain either id or link.")
            media_id = str(content.get("id") or "")
            media = self.state.media.get(media_id) if media_id else None
            if media_id and media is None:
                raise invalid_parameter(f"Param {kind}['id'] is not a valid media id.")
            return {
                "caption": content.get("caption", ""),
                "text": content.get("caption", ""),
                "media_id": media_id,
                "link": content.get("link", ""),
                "mime_type": media["mime_type"] if media else "",
                "filename": content.get("filename", ""),
            }
        if kind == "template":
            return self._validate_template(number, content)
        if kind == "reaction":
            if not content.get("message_id"):
                raise invalid_parameter("Param reaction['message_id'] is required.")
            return {"text": content.get("emoji", ""), "context_id": content["message_id"]}
        if kind == "location":
            if "latitude" not in content or "longitude" not in content:
                raise invalid_parameter("Param location requires latitude and longitude.")
            return {"text": content.get("name") or f"{content['latitude']}, {content['longitude']}"}
        if kind == "interactive":
            if not content.get("type") or not isinstance(content.get("action"), dict):
                raise invalid_parameter("Param interactive requires type and action.")
            action = content["action"]
            buttons = [b.get("reply", {}) for b in action.get("buttons", []) if isinstance(b, dict)]
            rows = [row for section in action.get("sections", []) for row in section.get("rows", [])]
            return {
                "text": str((content.get("body") or {}).get("text", "")),
                "header": str((content.get("header") or {}).get("text", "")),
                "buttons": [{"id": b.get("id", ""), "title": b.get("title", "")} for b in buttons],
                "list_button": action.get("button", ""),
                "list_rows": [{"id": r.get("id", ""), "title": r.get("title", "")} for r in rows],
            }
        if not isinstance(content, list) or not content:
            raise invalid_parameter("Param contacts must be a non-empty list.")
        names = [str((c.get("name") or {}).get("formatted_name", "")) for c in content if isinstance(c, dict)]
        return {"text": "Contact: " + ", ".join(names)}

    def _validate_template(self, number: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        name = content.get("name")
        language = (content.get("language") or {}).get("code")
        if not name or not language:
            raise invalid_parameter("Param template requires name and language.code.")
        templates = self.state.templates_ensure(number["waba_id"])
        template = next((t for t in templates if t["name"] == name and t["language"] == language), None)
        if template is None or template["status"] != "APPROVED":
            raise meta_error(132001, f"template name ({name}) does not exist in {language}")
        components = content.get("components") or []
        rendered: dict[str, str] = {}
        buttons = []
        for component in template["components"]:
            component_type = component["type"].lower()
            if component_type in ("header", "body") and component.get("format", "TEXT") == "TEXT":
                expected = len(set(PLACEHOLDER.findall(component.get("text", ""))))
                values = template_params(components, component_type)
                if len(values) != expected:
                    raise meta_error(
                        132000,
                        f"{component_type}: number of localizable_params ({len(values)}) does not match the "
                        f"expected number of params ({expected})",
                    )
                rendered[component_type] = render_placeholders(component.get("text", ""), values)
            elif component_type == "buttons":
                buttons = [
                    {"id": b.get("text", ""), "title": b.get("text", "")}
                    for b in component.get("buttons", [])
                ]
        return {
            "text": rendered.get("body", ""),
            "header": rendered.get("header", ""),
            "buttons": buttons,
            "template": {"name": name, "language": language},
            "category": template["category"].lower(),
        }

    def _injected_error(self, fail_code: Any) -> ApiError:
        if str(fail_code) == "500":
            return ApiError(
                2,
                "An unexpected error has occurred. Please retry your request later.",
                http_status=500,
                is_transient=True,
            )
        return meta_error(int(fail_code))

    def _check_rates(self, number: dict[str, Any], digits: str, now: float) -> None:
        phone_number_id = number["phone_number_id"]
        recent = self.state.sends_by_number.setdefault(phone_number_id, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= number["throughput_per_s"]:
            raise meta_error(130429)
        pair = self.state.sends_by_pair.setdefault((phone_number_id, digits), deque())
        while pair and pair[0] <= now - number["pair_window_s"]:
            pair.popleft()
        if len(pair) >= number["pair_limit"]:
            raise meta_error(131056)
        recent.append(now)
        pair.append(now)

    def _status(self, wamid: str, status: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        """Move a business message forward and tell the app; never moves backwards, failed is terminal."""
        now = time.time()
        with self.state.lock:
            message = self.state.messages.get(wamid)
            number = self.state.numbers.get(message["phone_number_id"]) if message else None
            if message is None or number is None:
                return
            if message["status"] == "failed" or STATUS_RANK[status] <= STATUS_RANK[message["status"]]:
                return
            message["status"] = status
            message["status_history"] = [
                *message.get("status_history", []),
                {"status": status, "timestamp": now},
            ]
            item: dict[str, Any] = {
                "id": wamid,
                "status": status,
                "timestamp": str(int(now)),
                "recipient_id": message["wa_id"],
            }
            if errors:
                message["errors"] = errors
                item["errors"] = errors
            elif status in ("sent", "delivered"):
                item.update(self._conversation_and_pricing(message, now, is_first=status == "sent"))
            self.state.mark_dirty()
            payload = self._envelope(number, {"statuses": [item]})
            url, secret = number["webhook_url"], number["app_secret"]
        self.dispatcher.enqueue(url=url, app_secret=secret, payload=payload, kind=f"status.{status}")

    def _conversation_and_pricing(
        self, message: dict[str, Any], now: float, *, is_first: bool
    ) -> dict[str, Any]:
        customer = self.state.customer(message["phone_number_id"], message["wa_id"])
        origin = message.get("_category") or "service"
        conversation = customer.get("conversation")
        if is_first and (
            not conversation or conversation["expires_at"] <= now or conversation["origin"] != origin
        ):
            conversation = {"id": secrets.token_hex(16), "origin": origin, "expires_at": now + WINDOW_S}
            customer["conversation"] = conversation
        conversation = conversation or {
            "id": secrets.token_hex(16),
            "origin": origin,
            "expires_at": now + WINDOW_S,
        }
        wire: dict[str, Any] = {"id": conversation["id"], "origin": {"type": origin}}
        if is_first:
            wire["expiration_timestamp"] = str(int(conversation["expires_at"]))
        # Per-message pricing: service replies and utility templates inside the window are free.
        in_window = self.state.has_open_window(message["phone_number_id"], message["wa_id"], now)
        is_free = origin == "service" or (origin == "utility" and in_window)
        pricing = {
            "billable": not is_free,
            "pricing_model": "PMP",
            "type": "free_customer_service" if is_free else "regular",
            "category": origin,
        }
        return {"conversation": wire, "pricing": pricing}

    @staticmethod
    def _envelope(number: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
        metadata = {
            "display_phone_number": digits_of(number["display_phone_number"]),
            "phone_number_id": number["phone_number_id"],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": number["waba_id"],
                    "changes": [
                        {
                            "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    # -- Cloud API: media ------------------------------------------------------------------------------

    def _media_store(self, owner: str, data: bytes, mime_type: str, filename: str = "") -> dict[str, Any]:
        media = {
            "id": new_numeric_id(),
            "owner": owner,
            "mime_type": mime_type,
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": len(data),
            "filename": filename,
            "data": data,
        }
        self.state.media[media["id"]] = media
        self.state.mark_dirty()
        return media

    def api_media_upload(
        self, phone_number_id: str, authorization: str, content_type: str, raw_body: bytes
    ) -> dict:
        with self.state.lock:
            self._authorized_number(phone_number_id, authorization)
        fields = parse_multipart(content_type, raw_body)
        upload = fields.get("file")
        if upload is None or not upload["data"]:
            raise ApiError(100, "(#100) The parameter file is required.", details="file is required")
        if fields.get("messaging_product", {}).get("text") != "whatsapp":
            raise ApiError(
                100, "(#100) The parameter messaging_product is required.", details="messaging_product"
            )
        if len(upload["data"]) > MAX_MEDIA_BYTES:
            raise invalid_parameter("The file is too large.")
        mime_type = fields.get("type", {}).get("text") or upload["content_type"] or "application/octet-stream"
        with self.state.lock:
            media = self._media_store(phone_number_id, upload["data"], mime_type, upload["filename"])
        return {"id": media["id"]}

    def api_get_object(self, object_id: str, authorization: str, base_url: str) -> dict[str, Any]:
        with self.state.lock:
            if object_id in self.state.numbers:
                number = self._authorized_number(object_id, authorization)
                return {
                    "verified_name": number["verified_name"],
                    "display_phone_number": number["display_phone_number"],
                    "id": object_id,
                    "quality_rating": "GREEN",
                    "code_verification_status": "VERIFIED",
                    "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"},
                }
            media = self._authorized_media(object_id, authorization)
            return {
                "messaging_product": "whatsapp",
                "url": f"{base_url}/_sandbox/media/{object_id}/download",
                "mime_type": media["mime_type"],
                "sha256": media["sha256"],
                "file_size": media["file_size"],
                "id": object_id,
            }

    def api_media_delete(self, media_id: str, authorization: str) -> dict[str, Any]:
        with self.state.lock:
            self._authorized_media(media_id, authorization)
            del self.state.media[media_id]
            self.state.mark_dirty()
        return {"success": True}

    def media_download(self, media_id: str, authorization: str | None) -> tuple[bytes, str]:
        """The bytes of a media item; `authorization=None` is the customer page's own unauthenticated view."""
        with self.state.lock:
            if authorization is None:
                media = self.state.media.get(media_id)
                if media is None:
                    raise ControlError(404, "not_found", "unknown media")
            else:
                media = self._authorized_media(media_id, authorization)
            return media["data"], media["mime_type"]

    def _authorized_media(self, media_id: str, authorization: str) -> dict[str, Any]:
        media = self.state.media.get(media_id)
        if media is None:
            raise unknown_object(media_id)
        self._authorized_number(media["owner"], authorization)
        return media

    # -- Cloud API: templates and phone numbers ------------------------------------------------------------

    def api_templates(self, waba_id: str, authorization: str, query: dict[str, str], base_url: str) -> dict:
        with self.state.lock:
            self._authorized_waba(waba_id, authorization)
            templates = [dict(t) for t in self.state.templates_ensure(waba_id)]
        if query.get("name"):
            templates = [t for t in templates if query["name"].lower() in t["name"].lower()]
        if query.get("status"):
            templates = [t for t in templates if t["status"] == query["status"].upper()]
        try:
            limit = max(1, min(int(query.get("limit") or 25), 1000))
            start = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid_parameter("Invalid limit or after cursor.") from exc
        page = templates[start : start + limit]
        end = start + len(page)
        data = [
            {
                "name": t["name"],
                "parameter_format": "POSITIONAL",
                "components": t["components"],
                "language": t["language"],
                "status": t["status"],
                "category": t["category"],
                "id": t["id"],
                **({"rejected_reason": t["rejected_reason"]} if t.get("rejected_reason") else {}),
            }
            for t in page
        ]
        paging: dict[str, Any] = {
            "cursors": {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(end).encode()).decode(),
            }
        }
        if end < len(templates):
            next_query = {k: v for k, v in query.items() if k not in ("after", "before", "_path")}
            next_query.update(limit=str(limit), after=paging["cursors"]["after"])
            paging["next"] = f"{base_url}{query['_path']}?{urlencode(next_query)}"
        return {"data": data, "paging": paging}

    def api_phone_numbers(self, waba_id: str, authorization: str) -> dict[str, Any]:
        with self.state.lock:
            numbers = self._authorized_waba(waba_id, authorization)
            return {
                "data": [
                    {
                        "verified_name": n["verified_name"],
                        "display_phone_number": n["display_phone_number"],
                        "id": n["phone_number_id"],
                        "quality_rating": "GREEN",
                    }
                    for n in numbers
                ]
            }


def parse_multipart(content_type: str, raw_body: bytes) -> dict[str, dict[str, Any]]:
    """Form fields of a multipart/form-data body: name -> {data, text, filename, content_type}."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid_parameter("The request must be multipart/form-data.")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw_body
    )
    fields: dict[str, dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        fields[name] = {
            "data": data,
            "text": data.decode("utf-8", "replace"),
            "filename": part.get_filename() or "",
            "content_type": part.get_content_type() if part.get("content-type") else "",
        }
    return fields
