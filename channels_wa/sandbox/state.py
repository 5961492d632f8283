"""In-memory state of the sandbox (numbers, templates, customers, messages, media), guarded by one lock and
optionally persisted to a JSON file so a restart keeps registered numbers and threads."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from typing import Any

logger = logging.getLogger("channels_wa.sandbox")

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0,
    "fail_rate": 0.0,
    "fail_code": 131000,
    "status_delay_ms": 200,
    "auto_read": True,
    "webhook_retry": True,
    "webhook_retry_attempts": 5,
    "webhook_retry_base_ms": 500,
}
NUMBER_DEFAULTS: dict[str, Any] = {
    "display_phone_number": "",
    "waba_id": "",
    "access_token": "",
    "app_secret": "",
    "webhook_url": "",
    "verified_name": "OmniDesk Sandbox",
    "throughput_per_s": 80,
    "pair_limit": 10,
    "pair_window_s": 60,
}
SECRET_NUMBER_FIELDS = ("access_token", "app_secret")
WINDOW_S = 24 * 3600
SAVE_DEBOUNCE_S = 0.5


def new_wamid() -> str:
    return "wamid.HBg" + base64.b64encode(secrets.token_bytes(30)).decode()


def new_numeric_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


def digits_of(value: str) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def seed_templates() -> list[dict[str, Any]]:
    """A few realistic templates every WABA starts with (three approved, one rejected)."""
    return [
        {
            "name": "hello_world",
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {
                    "type": "BODY",
                    "text": "Welcome and congratulations!! This message demonstrates your ability to send a "
                    "WhatsApp message notification from the Cloud API, hosted by Meta.",
                },
                {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
            ],
        },
        {
            "name": "order_update",
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, your order {{2}} has shipped.",
                    "example": {"body_text": [["Carla", "#1042"]]},
                }
            ],
        },
        {
            "name": "appointment_reminder",
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Appointment reminder"},
                {
                    "type": "BODY",
                    "text": "Hello {{1}}, this is a reminder of your appointment on {{2}}. "
                    "Reply below to confirm or reschedule.",
                    "example": {"body_text": [["Carla", "Friday 10:00"]]},
                },
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Confirm"},
                        {"type": "QUICK_REPLY", "text": "Reschedule"},
                    ],
                },
            ],
        },
        {
            "name": "summer_sale",
            "language": "en",
            "status": "REJECTED",
            "category": "MARKETING",
            "rejected_reason": "PROMOTIONAL",
            "components": [
                {"type": "BODY", "text": "50% off everything this weekend only! Reply STOP to opt out."}
            ],
        },
    ]


class SandboxState:
    """Everything the sandbox knows. Callers hold `lock` around reads and writes of the dicts below."""

    def __init__(self, state_file: str | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.numbers: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, list[dict[str, Any]]] = {}  # waba_id -> templates
        self.customers: dict[str, dict[str, Any]] = {}  # "<phone_number_id>:<digits>" -> customer
        self.messages: dict[str, dict[str, Any]] = {}  # wamid -> message (insertion ordered)
        self.media: dict[str, dict[str, Any]] = {}  # media id -> {owner, mime_type, sha256, data(bytes)...}
        # Rate counters are deliberately not persisted.
        self.sends_by_number: dict[str, deque[float]] = {}
        self.sends_by_pair: dict[tuple[str, str], deque[float]] = {}
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None
        if state_file:
            self.load()
            self._saver = threading.Thread(target=self._save_loop, name="sandbox-state-saver", daemon=True)
            self._saver.start()

    # -- numbers and templates -------------------------------------------------------------------------

    def number_put(self, phone_number_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            number = dict(NUMBER_DEFAULTS)
            number.update(self.numbers.get(phone_number_id, {}))
            number.update({key: value for key, value in data.items() if key in NUMBER_DEFAULTS})
            number["phone_number_id"] = phone_number_id
            if not number["waba_id"]:
                number["waba_id"] = "waba-" + phone_number_id
            for key in ("throughput_per_s", "pair_limit"):
                number[key] = int(number[key])
            number["pair_window_s"] = float(number["pair_window_s"])
            self.numbers[phone_number_id] = number
            self.templates_ensure(number["waba_id"])
            self.mark_dirty()
            return number

    def templates_ensure(self, waba_id: str) -> list[dict[str, Any]]:
        with self.lock:
            if waba_id not in self.templates:
                self.templates[waba_id] = []
                for template in seed_templates():
                    self.template_put(waba_id, template)
            return self.templates[waba_id]

    def template_put(self, waba_id: str, template: dict[str, Any]) -> dict[str, Any]:
        """Add a template, or replace the one with the same name and language."""
        with self.lock:
            templates = self.templates.setdefault(waba_id, [])
            stored = {"id": new_numeric_id(), "status": "APPROVED", "category": "UTILITY", "components": []}
            stored.update(template)
            for index, existing in enumerate(templates):
                if existing["name"] == stored["name"] and existing["language"] == stored["language"]:
                    stored["id"] = existing["id"]
                    templates[index] = stored
                    break
            else:
                templates.append(stored)
            self.mark_dirty()
            return stored

    @staticmethod
    def public_number(number: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in number.items() if key not in SECRET_NUMBER_FIELDS}

    # -- customers ----------------------------------------------------------------------------------------

    def customer(self, phone_number_id: str, digits: str) -> dict[str, Any]:
        with self.lock:
            key = f"{phone_number_id}:{digits}"
            if key not in self.customers:
                self.customers[key] = {
                    "phone_number_id": phone_number_id,
                    "wa_id": digits,
                    "profile_name": "",
                    "last_inbound_at": None,
                    "conversation": None,
                }
            return self.customers[key]

    def has_open_window(self, phone_number_id: str, digits: str, now: float) -> bool:
        with self.lock:
            last = self.customer(phone_number_id, digits)["last_inbound_at"]
            return last is not None and now - last < WINDOW_S

    def thread(self, phone_number_id: str, digits: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(message)
                for message in self.messages.values()
                if message["phone_number_id"] == phone_number_id and message["wa_id"] == digits
            ]

    # -- reset and persistence ----------------------------------------------------------------------------

    def reset(self, *, numbers: bool = False) -> None:
        with self.lock:
            self.customers.clear()
            self.messages.clear()
            self.media.clear()
            self.sends_by_number.clear()
            self.sends_by_pair.clear()
            self.config = dict(DEFAULT_CONFIG)
            if numbers:
                self.numbers.clear()
                self.templates.clear()
            self.mark_dirty()

    def mark_dirty(self) -> None:
        if self.state_file:
            self._dirty.set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            media = {}
            for media_id, item in self.media.items():
                if "_data_b64" not in item:  # encode each file once, not on every save
                    item["_data_b64"] = base64.b64encode(item["data"]).decode()
                media[media_id] = {k: v for k, v in item.items() if k not in ("data", "_data_b64")}
                media[media_id]["data"] = item["_data_b64"]
            # Copy two levels deep so json.dumps can run outside the lock while requests keep changing state.
            return {
                "version": 1,
                "config": dict(self.config),
                "numbers": {key: dict(value) for key, value in self.numbers.items()},
                "templates": {key: list(value) for key, value in self.templates.items()},
                "customers": {key: dict(value) for key, value in self.customers.items()},
                "messages": {key: dict(value) for key, value in self.messages.items()},
                "media": media,
            }

    def save(self) -> None:
        if not self.state_file:
            return
        self._dirty.clear()
        data = json.dumps(self.snapshot())
        tmp_path = f"{self.state_file}.tmp"
        with open(tmp_path, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp_path, self.state_file)

    def load(self) -> None:
        if not self.state_file or not os.path.exists(self.state_file):
            return
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            logger.exception("sandbox: could not read state file %s, starting empty", self.state_file)
            return
        with self.lock:
            self.config = {**DEFAULT_CONFIG, **data.get("config", {})}
            self.numbers = data.get("numbers", {})
            self.templates = data.get("templates", {})
            self.customers = data.get("customers", {})
            self.messages = data.get("messages", {})
            self.media = {
                media_id: {**item, "data": base64.b64decode(item["data"])}
                for media_id, item in data.get("media", {}).items()
            }

    def _save_loop(self) -> None:
        while not self._stopping.is_set():
            if self._dirty.wait(timeout=1.0) and not self._stopping.is_set():
                time.sleep(SAVE_DEBOUNCE_S)  # coalesce bursts of changes into one write
                try:
                    self.save()
                except Exception:  # the saver must outlive one bad write
                    logger.exception("sandbox: could not write state file %s", self.state_file)

    def close(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._saver:
            self._saver.join(timeout=5)
        if self.state_file:
            self.save()
