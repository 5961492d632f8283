"""The session runner (`manage.py run_wa_sessions`): hosts the QR-session channels of every company
that it holds a lease on. Each session has its own thread and connection; an exception in one is
logged on that session (as a disconnect, retried with backoff) and never reaches the others."""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from dataclasses import fields
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils.module_loading import import_string
from django_tenants.utils import schema_context

from channels_wa.providers.base import (
    InboundMessage,
    LocationRef,
    MediaRef,
    OutboundMessage,
    SendResult,
    StatusUpdate,
)
from channels_wa.providers.qr_session import leases, states
from channels_wa.providers.qr_session.backoff import Backoff, ReconnectGate
from channels_wa.providers.qr_session.pacing import PacingPolicy, PacingState
from channels_wa.providers.qr_session.routing import requests_key, runner_reply
from core.redis import get_redis

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 32 * 2**20  # inbound files travel back to the worker through Redis


def outbound_from_dict(data: dict) -> OutboundMessage:
    known = {f.name for f in fields(OutboundMessage)}
    values = {key: value for key, value in data.items() if key in known}
    if values.get("media"):
        values["media"] = MediaRef(**values["media"])
    if values.get("location"):
        values["location"] = LocationRef(**values["location"])
    for name in ("template", "interactive"):
        if values.get(name):
            raise ValueError(f"{name} messages cannot be sent on a QR-code session")
        values.pop(name, None)
    return OutboundMessage(**values)


def store_url() -> str:
    from channels_wa.providers.qr_session.client import store_url_for

    return settings.QR_SESSION_STORE_URL or store_url_for(settings.DATABASE_URL)


def _releases_db(method):
    """Listener calls arrive on the connection's own threads: give their database connection back."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            if threading.current_thread() is not self.thread:
                connections.close_all()

    return wrapper


class Session:
    """One hosted number: its connection, its lifecycle and its queue of requests (sends are paced one
    after another on this thread)."""

    def __init__(self, runner: Runner, held: leases.HeldSession):
        self.runner = runner
        self.held = held
        self.schema_name, self.channel_id = held.schema_name, held.channel_id
        self.requests: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.connection = None
        self.attempt = 0
        self.connected_at: float | None = None
        self.reconnect_at: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"qr-{held.external_id}", daemon=True)
        self.pacing = PacingState(key=f"{self.schema_name}:{self.channel_id}")  # = services.pacing_key

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self, *, reason: str) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)
        self._close_connection()
        try:
            if self._state() not in (states.AUTH_FAILED, states.LOGGED_OUT):  # those wait for a person
                self._transition(states.NOT_STARTED, reason)
        except Exception:  # e.g. the channel was deleted, which is why its lease went away
            logger.info("QR session %s: stopped; its channel is gone", self.held.external_id)

    def _session(self):
        from channels_wa.models import Channel, QRSession

        channel = Channel.objects.get(pk=self.channel_id)
        session, _ = QRSession.objects.get_or_create(channel=channel)
        return session

    def _transition(self, to_state: str, reason: str) -> None:
        from channels_wa.providers.qr_session.services import qr_session_transition

        try:
            with schema_context(self.schema_name):
                session = self._session()
                if session.state != to_state:
                    qr_session_transition(session=session, to_state=to_state, reason=reason)
        except states.InvalidTransition as exc:
            logger.info("QR session %s: %s (ignored)", self.held.external_id, exc)
        except Exception:
            logger.exception("QR session %s: transition to %s failed", self.held.external_id, to_state)

    def _note(self, text: str) -> None:
        from channels_wa.providers.qr_session.services import qr_session_note

        try:
            with schema_context(self.schema_name):
                qr_session_note(session=self._session(), note=text)
        except Exception:
            logger.exception("QR session %s: note not stored", self.held.external_id)

    def _state(self) -> str:
        with schema_context(self.schema_name):
            return self._session().state

    def _connect(self) -> None:
        self._close_connection()
        with schema_context(self.schema_name):
            session = self._session()
        self.connection = self.runner.connection_class(
            session_key=self.held.external_id,
            store_url=store_url(),
            device_jid=session.device_jid,
            listener=self,
        )
        if session.device_jid:
            self._transition(states.AUTHENTICATED, "Reconnecting with the keys stored in the database.")
        self.reconnect_at = None
        self.connection.start()

    def _close_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.stop()
            except Exception:
                logger.exception("QR session %s: stop failed", self.held.external_id)

    def _schedule_reconnect(self) -> None:
        if (
            self.connected_at is not None
            and time.monotonic() - self.connected_at >= self.runner.backoff.healthy_after_s
        ):
            self.attempt = 0
        self.connected_at = None
        delay_s = self.runner.backoff.delay_s(self.attempt, self.runner.rng)
        due = time.monotonic() + delay_s
        self.attempt += 1
        self.reconnect_at = due + self.runner.reconnect_gate(due)
        self.runner.reconnects_scheduled += 1
        wait_s = self.reconnect_at - time.monotonic()
        logger.info("QR session %s: reconnect %d in %.1f s", self.held.external_id, self.attempt, wait_s)
        self._note(f"Reconnect attempt {self.attempt} in {wait_s:.0f} s.")

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            connections.close_all()

    def _loop(self) -> None:
        # A runner starting with many sessions connects them a few at a time, too.
        if self.stopping.wait(self.runner.reconnect_gate(time.monotonic())):
            return
        try:
            if self._state() in (states.AUTH_FAILED, states.LOGGED_OUT):
                self.connection = None  # waits for "Link again" from the dashboard
            else:
                self._connect()
        except Exception as exc:
            logger.exception("QR session %s: could not start", self.held.external_id)
            self._transition(states.DISCONNECTED, f"Could not start: {type(exc).__name__}: {exc}")
            self._schedule_reconnect()
        finally:
            connections.close_all()  # an idle session holds no database connection
        while not self.stopping.is_set():
            if self.reconnect_at is not None and time.monotonic() >= self.reconnect_at:
                try:
                    self._connect()
                except Exception as exc:
                    logger.warning("QR session %s: reconnect failed: %s", self.held.external_id, exc)
                    self._transition(states.DISCONNECTED, f"Reconnect failed: {type(exc).__name__}: {exc}")
                    self._schedule_reconnect()
                finally:
                    connections.close_all()
            try:
                request = self.requests.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(request)
            except Exception as exc:
                logger.exception("QR session %s: request %s failed", self.held.external_id, request.get("op"))
                runner_reply(request, ok=False, error={"code": "runner_error", "title": str(exc)[:200]})
            finally:
                connections.close_all()

    # --- listener (called from the connection's threads) -------------------------------------------

    @_releases_db
    def on_qr(self, code: str) -> None:
        from channels_wa.providers.qr_session.services import qr_session_show_code

        try:
            with schema_context(self.schema_name):
                qr_session_show_code(session=self._session(), code=code)
        except Exception:
            logger.exception("QR session %s: QR code not stored", self.held.external_id)

    @_releases_db
    def on_paired(self, device_jid: str) -> None:
        from channels_wa.providers.qr_session.services import qr_session_paired

        try:
            with schema_context(self.schema_name):
                qr_session_paired(session=self._session(), device_jid=device_jid)
        except Exception:
            logger.exception("QR session %s: pairing not stored", self.held.external_id)

    @_releases_db
    def on_connected(self) -> None:
        self.connected_at = time.monotonic()
        if self._state() in (states.PENDING, states.DISCONNECTED, states.NOT_STARTED):
            self._transition(states.AUTHENTICATED, "Linked to the phone.")
        self._transition(states.READY, "Connected to WhatsApp.")

    @_releases_db
    def on_disconnected(self, reason: str) -> None:
        if self.stopping.is_set():
            return
        self._transition(states.DISCONNECTED, reason)
        self._schedule_reconnect()

    @_releases_db
    def on_logged_out(self, reason: str) -> None:
        self.reconnect_at = None
        self._transition(states.LOGGED_OUT, reason)

    @_releases_db
    def on_auth_failed(self, reason: str) -> None:
        self.reconnect_at = None
        self._transition(states.AUTH_FAILED, reason)

    @_releases_db
    def on_inbound(self, event: InboundMessage) -> None:
        self._apply(event)

    @_releases_db
    def on_status(self, event: StatusUpdate) -> None:
        self._apply(event)

    def _apply(self, event) -> None:
        from channels_wa.models import Channel
        from channels_wa.providers.qr_session.services import qr_inbound_apply

        try:
            with schema_context(self.schema_name):
                qr_inbound_apply(channel=Channel.objects.get(pk=self.channel_id), event=event)
            self.runner.events_applied += 1
        except Exception:
            # One bad event never stops the session; it is logged with its id for re-processing.
            logger.exception(
                "QR session %s: event %s not stored",
                self.held.external_id,
                getattr(event, "provider_message_id", ""),
            )
        finally:
            close_old_connections()

    # --- requests ----------------------------------------------------------------------------------

    def _handle(self, request: dict) -> None:
        op = request["op"]
        if op == "send":
            return self._send(request)
        if op == "pair":
            if self.connection is None:
                self._connect()
            code = self.connection.pair_phone(request["payload"]["phone"])
            from channels_wa.providers.qr_session.services import qr_session_set_pairing_code

            with schema_context(self.schema_name):
                qr_session_set_pairing_code(session=self._session(), code=code)
            return runner_reply(request, ok=True, pairing_code=code)
        if op == "download":
            if self.connection is None or self._state() != states.READY:
                return runner_reply(
                    request,
                    ok=False,
                    error={"code": "session_not_ready", "title": "The session is not ready"},
                )
            content = self.connection.download(base64.b64decode(request["payload"]["media_message"]))
            if len(content) > MAX_DOWNLOAD_BYTES:
                return runner_reply(
                    request,
                    ok=False,
                    error={
                        "code": "media_too_large",
                        "title": "The file is too large",
                        "is_transient": False,
                    },
                )
            return runner_reply(request, ok=True, content=base64.b64encode(content).decode())
        if op == "restart":
            self.attempt = 0
            self._connect()
            return runner_reply(request, ok=True)
        if op == "logout":
            if self.connection is not None:
                self.connection.logout()
            self._close_connection()
            self.reconnect_at = None
            self._transition(states.LOGGED_OUT, "Unlinked from the dashboard.")
            return runner_reply(request, ok=True)
        runner_reply(request, ok=False, error={"code": "unknown_op", "title": op, "is_transient": False})

    def _send(self, request: dict) -> None:
        redis = get_redis()
        try:
            message = outbound_from_dict(request["payload"]["message"])
        except ValueError as exc:
            return runner_reply(
                request, ok=False, error={"code": "not_supported", "title": str(exc), "is_transient": False}
            )
        sent_key = (
            f"qr:sent:{self.schema_name}:{self.channel_id}:{message.client_ref}" if message.client_ref else ""
        )
        if sent_key and (previous := redis.get(sent_key)):  # a retried request for a message already out
            return runner_reply(request, ok=True, provider_message_id=previous.decode())
        state = self._state()
        if state != states.READY or self.connection is None:
            return runner_reply(
                request,
                ok=False,
                error={"code": "session_not_ready", "title": f"The session is {state}", "is_transient": True},
            )
        with schema_context(self.schema_name):
            policy = PacingPolicy.for_session(self._session())
        now = datetime.now(tz=UTC)
        plan = self.pacing.plan(
            policy, to=message.to, text_length=len(message.text), now=now, rng=self.runner.rng
        )
        if plan.is_deferred:
            return runner_reply(
                request,
                ok=False,
                error={
                    "code": "paced",
                    "title": f"Held back to keep the number safe ({plan.reason})",
                    "is_transient": True,
                    "retry_after_s": (plan.deferred_until - now).total_seconds(),
                },
            )
        scale = settings.QR_PACING_SCALE
        if self.stopping.wait(plan.wait_s * scale):
            return runner_reply(request, ok=False, error={"code": "runner_stopping", "title": "stopping"})
        if time.time() > request["deadline"]:
            return  # the caller gave up; it retries, and nothing was sent
        if message.kind != "reaction":
            self.connection.typing(message.to, is_typing=True)
            self.stopping.wait(plan.typing_s * scale)
            self.connection.typing(message.to, is_typing=False)
        handed_at = time.time()
        result: SendResult = self.connection.send(message)
        if result.is_ok:
            self.pacing.record_send(policy, to=message.to, at=datetime.now(tz=UTC))
            if sent_key:
                redis.set(sent_key, result.provider_message_id, ex=86400)
            return runner_reply(
                request,
                ok=True,
                provider_message_id=result.provider_message_id,
                handoff_ms=(handed_at - request.get("sent_at", handed_at)) * 1000,
            )
        error = result.error
        runner_reply(
            request,
            ok=False,
            error={
                "code": error.code,
                "title": error.title,
                "detail": error.detail,
                "is_transient": error.is_transient,
            },
        )


class Runner:
    def __init__(self, *, runner_id: str | None = None, rng: random.Random | None = None):
        self.runner_id = runner_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.ttl_s = settings.QR_LEASE_TTL_S
        self.heartbeat_s = settings.QR_HEARTBEAT_S
        self.backoff = Backoff(base_s=settings.QR_BACKOFF_BASE_S, cap_s=settings.QR_BACKOFF_CAP_S)
        self._gate, self._gate_lock = ReconnectGate(rate_per_s=settings.QR_RECONNECTS_PER_S), threading.Lock()
        self.rng = rng or random.Random()
        # Loaded once at start: a runner without the `qr` extra fails here, loudly, not per session.
        self.connection_class = import_string(settings.QR_SESSION_CONNECTION)
        self.sessions: dict[int, Session] = {}
        self.stopping = threading.Event()
        self.valid_until = 0.0  # monotonic time until which our leases are surely ours
        self.reconnects_scheduled = 0
        self.events_applied = 0
        self._reader = threading.Thread(target=self._read_requests, name="qr-requests", daemon=True)

    def reconnect_gate(self, due: float) -> float:
        with self._gate_lock:
            return self._gate.reserve(due)

    def run(self) -> None:
        logger.info("QR session runner %s starting", self.runner_id)
        self._reader.start()
        try:
            while not self.stopping.is_set():
                self.tick()
                self.stopping.wait(self.heartbeat_s)
        finally:
            self.shutdown()

    def tick(self) -> None:
        started = time.monotonic()
        try:
            leases.runner_heartbeat(runner_id=self.runner_id, hostname=socket.gethostname(), pid=os.getpid())
            leases.leases_sync()
            held = leases.leases_renew(runner_id=self.runner_id, ttl_s=self.ttl_s)
            self.valid_until = started + self.ttl_s - self.heartbeat_s
            for route_id in set(self.sessions) - held:
                self._stop(route_id, "The lease moved to another runner.")
            share = leases.fair_share(ttl_s=self.ttl_s)
            if len(held) > share:  # a runner joined: hand some sessions over
                extra = set(sorted(held)[share:])
                for route_id in extra:
                    self._stop(route_id, "Handed over to another runner (rebalancing).")
                leases.leases_release(runner_id=self.runner_id, route_ids=extra)
                held -= extra
            elif len(held) < share:
                held |= leases.leases_acquire(
                    runner_id=self.runner_id, ttl_s=self.ttl_s, limit=share - len(held)
                )
            for item in leases.sessions_for(held - set(self.sessions)):
                session = Session(self, item)
                self.sessions[item.route_id] = session
                session.start()
        except Exception:
            logger.exception("QR session runner %s: heartbeat failed", self.runner_id)
            if time.monotonic() > self.valid_until:  # cannot prove the leases are ours: stand down
                for route_id in list(self.sessions):
                    self._stop(route_id, "The runner lost its database connection.")
        finally:
            close_old_connections()

    def _stop(self, route_id: int, reason: str) -> None:
        session = self.sessions.pop(route_id, None)
        if session is not None:
            session.stop(reason=reason)

    def _read_requests(self) -> None:
        redis = get_redis()
        key = requests_key(self.runner_id)
        while not self.stopping.is_set():
            try:
                item = redis.blpop([key], timeout=1)
            except Exception:
                logger.exception("QR session runner %s: request queue unavailable", self.runner_id)
                self.stopping.wait(1)
                continue
            if item is None:
                continue
            request = json.loads(item[1])
            session = next(
                (
                    s
                    for s in self.sessions.values()
                    if s.schema_name == request["schema"] and s.channel_id == request["channel_id"]
                ),
                None,
            )
            if session is None:
                runner_reply(
                    request,
                    ok=False,
                    error={"code": "session_moved", "title": "This runner no longer holds the session."},
                )
            else:
                session.requests.put(request)

    def shutdown(self) -> None:
        self.stopping.set()
        for route_id in list(self.sessions):
            self._stop(route_id, "The session runner stopped.")
        try:
            leases.runner_forget(runner_id=self.runner_id)
        except Exception:
            logger.exception("QR session runner %s: leases not released", self.runner_id)
        logger.info("QR session runner %s stopped", self.runner_id)
