"""The test double for WhatsApp's side, at the boundary of client.py only: it implements the same
`SessionConnection` interface as `NeonizeConnection`, and reports what "WhatsApp" does by handing
real neonize protobuf events to the real `dispatch_event` (as neonize's own event loop would).

Tests drive it through Redis, so it works the same inside the test process and inside runner
subprocesses: push serialized neonize events on `fake-wa:<session>:events`, read what was sent from
`fake-wa:<session>:sent`. It also checks that no session ever runs in two live processes at once.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid

from neonize.proto import Neonize_pb2 as neonize_proto

from channels_wa.providers.base import OutboundMessage, ProviderError, SendResult
from channels_wa.providers.qr_session.client import SessionConnection, dispatch_event
from core.redis import get_redis

HOLDERS_KEY = "fake-wa:holders"
VIOLATIONS_KEY = "fake-wa:violations"


def key(session_key: str, what: str) -> str:
    return f"fake-wa:{session_key}:{what}"


def push_event(session_key: str, event) -> None:
    """What WhatsApp does next for this session: a neonize event (protobuf) or "scan"."""
    if isinstance(event, str):
        body = {"command": event}
    else:
        data = base64.b64encode(event.SerializePartialToString()).decode()
        body = {"type": type(event).__name__, "bytes": data}
    get_redis().rpush(key(session_key, "events"), json.dumps(body))


def sent_messages(session_key: str) -> list[dict]:
    return [json.loads(item) for item in get_redis().lrange(key(session_key, "sent"), 0, -1)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class FakeConnection(SessionConnection):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.redis = get_redis()
        self.token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.redis.exists(key(self.session_key, "fail_start")):
            raise ConnectionError("fake: the WhatsApp servers refused the connection")
        previous = self.redis.hget(HOLDERS_KEY, self.session_key)
        if previous is not None:
            pid = int(previous.decode().split(":")[0])
            if pid != os.getpid() and _pid_alive(pid):
                self.redis.incr(VIOLATIONS_KEY)
        self.redis.hset(HOLDERS_KEY, self.session_key, self.token)
        self.redis.incr(key(self.session_key, "starts"))
        self.thread = threading.Thread(target=self._events, daemon=True)
        self.thread.start()
        if self.device_jid:
            dispatch_event(self.listener, neonize_proto.Connected(status=True), external_id=self.session_key)
        else:
            self.listener.on_qr(f"2@fake-{uuid.uuid4().hex},{self.session_key}")

    def _events(self) -> None:
        while not self.stopped.is_set():
            item = self.redis.blpop([key(self.session_key, "events")], timeout=0.3)
            if item is None or self.stopped.is_set():
                if item is not None:  # not ours any more: leave it for the next holder
                    self.redis.lpush(key(self.session_key, "events"), item[1])
                continue
            body = json.loads(item[1])
            if body.get("command") == "scan":
                device = neonize_proto.JID(User="15550009999", Device=12, Server="s.whatsapp.net")
                for event in (
                    neonize_proto.PairStatus(ID=device, Status=neonize_proto.PairStatus.SUCCESS),
                    neonize_proto.Connected(status=True),
                ):
                    dispatch_event(self.listener, event, external_id=self.session_key)
                continue
            event = getattr(neonize_proto, body["type"])()
            event.MergeFromString(base64.b64decode(body["bytes"]))
            dispatch_event(self.listener, event, external_id=self.session_key)

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        current = self.redis.hget(HOLDERS_KEY, self.session_key)
        if current is not None and current.decode() == self.token:
            self.redis.hdel(HOLDERS_KEY, self.session_key)

    def logout(self) -> None:
        self.redis.incr(key(self.session_key, "logouts"))

    def typing(self, to: str, *, is_typing: bool) -> None:
        self.redis.rpush(key(self.session_key, "typing"), json.dumps({"to": to, "is_typing": is_typing}))

    def download(self, media_message: bytes) -> bytes:
        from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

        message = e2e.Message()
        message.MergeFromString(media_message)
        return b"fake file for " + message.imageMessage.caption.encode()

    def pair_phone(self, phone: str) -> str:
        return f"FAKE-{phone[-4:]}"

    def send(self, message: OutboundMessage) -> SendResult:
        error = self.redis.get(key(self.session_key, "send_error"))
        if error is not None:
            return SendResult(
                error=ProviderError(code=error.decode(), title="fake send error", is_transient=True)
            )
        message_id = "3EB0" + uuid.uuid4().hex[:16].upper()
        self.redis.rpush(
            key(self.session_key, "sent"),
            json.dumps(
                {
                    "id": message_id,
                    "to": message.to,
                    "kind": message.kind,
                    "text": message.text,
                    "pid": os.getpid(),
                }
            ),
        )
        return SendResult(provider_message_id=message_id)
