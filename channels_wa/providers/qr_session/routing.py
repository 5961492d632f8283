"""Requests to the runner that holds a session, over Redis (never shared memory): a Celery worker (or
a web request) pushes a request on the holder's list and waits for the reply on its own key."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from channels_wa.providers.qr_session.leases import session_holder
from core.redis import get_redis


def requests_key(runner_id: str) -> str:
    return f"qr:runner:{runner_id}:requests"


def reply_key(request_id: str) -> str:
    return f"qr:reply:{request_id}"


class SessionUnavailable(Exception):
    """No runner holds the session, or it did not answer in time; worth retrying later."""


@dataclass(frozen=True)
class RunnerReply:
    ok: bool
    data: dict[str, Any]


def runner_call(
    *, schema_name: str, channel_id: int, op: str, payload: dict[str, Any], timeout_s: float | None = None
) -> RunnerReply:
    timeout_s = timeout_s if timeout_s is not None else settings.QR_SEND_TIMEOUT_S
    holder = session_holder(schema_name=schema_name, channel_id=channel_id)
    if holder is None:
        raise SessionUnavailable("No session runner holds this number right now.")
    request_id = uuid.uuid4().hex
    redis = get_redis()
    request = {
        "id": request_id,
        "schema": schema_name,
        "channel_id": channel_id,
        "op": op,
        "payload": payload,
        # The runner drops a request it could only act on after the caller stopped waiting.
        "deadline": time.time() + timeout_s,
        "sent_at": time.time(),
    }
    redis.rpush(requests_key(holder), json.dumps(request))
    answer = redis.blpop([reply_key(request_id)], timeout=max(1, int(timeout_s + 0.999)))
    if answer is None:
        raise SessionUnavailable(f"The session runner did not answer within {timeout_s:.0f} s.")
    body = json.loads(answer[1])
    return RunnerReply(ok=bool(body.get("ok")), data=body)


def runner_reply(request: dict[str, Any], *, ok: bool, **data: Any) -> None:
    redis = get_redis()
    key = reply_key(request["id"])
    pipe = redis.pipeline()
    pipe.rpush(key, json.dumps({"ok": ok, **data}))
    pipe.expire(key, 120)
    pipe.execute()
