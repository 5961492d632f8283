"""Typed realtime events sent to WebSocket groups after the transaction commits.

Every event type is declared here with the payload keys it must carry; services call
`broadcast_on_commit` and never talk to the channel layer or Celery for this themselves.
Group names always carry the tenant schema (see `company_group`, `user_group`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction

logger = logging.getLogger(__name__)

EVENT_TYPES: dict[str, frozenset[str]] = {
    "message.created": frozenset({"id", "conversation_id", "direction", "status"}),
    "message.updated": frozenset({"id", "conversation_id", "status"}),
    "conversation.created": frozenset({"id", "contact_id", "status"}),
    "conversation.updated": frozenset({"id", "status"}),
    "campaign.progress": frozenset({"id", "status", "sent", "total"}),
    "channel.status": frozenset({"id", "status"}),
    # To one user's sockets: their role, departments or account changed; what they may see is re-read.
    "user.access_changed": frozenset({"user_id"}),
}


class UnknownEventType(ValueError):
    pass


def company_group(schema_name: str) -> str:
    return f"{schema_name}.company"


def user_group(schema_name: str, user_id: int) -> str:
    return f"{schema_name}.user.{user_id}"


def validate_event(event_type: str, payload: dict[str, Any]) -> None:
    required = EVENT_TYPES.get(event_type)
    if required is None:
        raise UnknownEventType(f"unknown realtime event type {event_type!r}")
    missing = required - payload.keys()
    if missing:
        raise ValueError(f"{event_type} payload misses {sorted(missing)}")


class _SenderLoop:
    """One event loop per process, on a daemon thread, for sending from sync code. Events queue up and
    one task on the loop sends them, in order: the channel layer's Redis connections are kept per loop and
    reused, a burst never needs more connections than the pool allows (redis-py refuses past 100: events
    were dropped under load), and a sender wakes the loop only when it is idle. Events that queued up
    while a send was in flight go out together, one channel-layer message per group (`realtime.batch`)."""

    MAX_PENDING = 10_000  # if Redis stalls, the oldest events go first (the dashboard refetches on reconnect)
    MAX_BATCH = 50  # events sent together when they queued up while the previous send was in flight

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._pending: deque[tuple[dict, list[str]]] = deque()
        self._is_draining = False

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._pid != os.getpid():  # not started, or inherited by a fork
            self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
            self._pending.clear()
            self._is_draining = False
            threading.Thread(target=self._loop.run_forever, name="realtime-sender", daemon=True).start()
        return self._loop

    def submit(self, message: dict, groups: list[str]) -> None:
        with self._lock:
            loop = self._running_loop()
            if len(self._pending) >= self.MAX_PENDING:
                self._pending.popleft()
                logger.warning("realtime event dropped: %d events are waiting for Redis", self.MAX_PENDING)
            self._pending.append((message, groups))
            if self._is_draining:
                return
            self._is_draining = True
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain()))

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            with self._lock:
                if not self._pending:
                    self._is_draining = False
                    return
                taken = [self._pending.popleft() for _ in range(min(len(self._pending), self.MAX_BATCH))]
            for groups, messages in _runs(taken):
                outgoing = messages[0] if len(messages) == 1 else _batch(messages)
                for group in groups:
                    try:
                        await layer.group_send(group, outgoing)
                    except Exception as exc:
                        logger.warning("realtime event not sent: %s", exc)


def _runs(taken: list[tuple[dict, list[str]]]) -> list[tuple[list[str], list[dict]]]:
    """Consecutive events for the same groups, together, in the order they were emitted: a socket in
    several groups still hears every event in order."""
    runs: list[tuple[list[str], list[dict]]] = []
    for message, groups in taken:
        if runs and runs[-1][0] == groups:
            runs[-1][1].append(message)
        else:
            runs.append((groups, [message]))
    return runs


def _batch(messages: list[dict]) -> dict:
    """Several events in one channel-layer message (the consumer unpacks them in order): a group send
    costs the sender about 0.5 ms of CPU whatever it carries, and a busy company emits hundreds a second."""
    return {
        "type": "realtime.batch",
        "events": [{"event": m["event"], "payload": m["payload"]} for m in messages],
    }


_sender = _SenderLoop()


def send_now(event_type: str, payload: dict[str, Any], groups: list[str]) -> None:
    # Fire and forget: the request or task that emitted the event never waits on Redis.
    _sender.submit({"type": "realtime.event", "event": event_type, "payload": payload}, groups)


def broadcast_on_commit(event_type: str, payload: dict[str, Any], groups: list[str] | None = None) -> None:
    """Queue an event for the groups (default: the current company) once the transaction commits."""
    validate_event(event_type, payload)
    targets = groups if groups is not None else [company_group(connection.schema_name)]
    # Best effort: a lost event is recovered by the dashboard's refetch on reconnect, and a Redis hiccup
    # must not fail the work that was just committed (robust callbacks log their errors).
    transaction.on_commit(lambda: send_now(event_type, payload, targets), robust=True)
