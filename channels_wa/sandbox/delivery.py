"""Background delivery: signed webhook POSTs (in order per URL, retried with backoff like Meta) and a timer
that fires scheduled work such as the sent → delivered → read status chain."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

logger = logging.getLogger("channels_wa.sandbox")

LOG_SIZE = 500
_STOP = object()


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict[str, Any]) -> bytes:
    # Compact with non-ASCII escaped, as Meta sends it; receivers must verify these exact bytes.
    return json.dumps(payload, separators=(",", ":")).encode()


def loopback_target(url: str) -> tuple[str, dict[str, str]]:
    """Browsers resolve *.localhost to loopback but glibc does not: connect to 127.0.0.1 on the same port and
    keep the original host:port in the Host header."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if not hostname.endswith(".localhost"):
        return url, {}
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"Host": parts.netloc}


class WebhookDispatcher:
    """One worker thread per webhook URL so a dead receiver only delays its own deliveries."""

    def __init__(self, get_config: Callable[[], dict[str, Any]]) -> None:
        self._get_config = get_config
        self._queues: dict[str, queue.Queue] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def enqueue(self, *, url: str, app_secret: str, payload: dict[str, Any], kind: str) -> None:
        if not url:
            logger.warning("sandbox: no webhook_url for %s, dropping %s", kind, payload)
            return
        body = encode_payload(payload)
        self.enqueue_raw(
            url=url,
            body=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(app_secret, body)},
            kind=kind,
        )

    def enqueue_raw(self, *, url: str, body: bytes, headers: dict[str, str], kind: str) -> None:
        """A delivery whose body and signature headers the caller made (Twilio's form posts)."""
        job = {"url": url, "body": body, "headers": headers, "kind": kind}
        with self._lock:
            if self._stopping.is_set():
                return
            self._pending += 1
            worker_queue = self._queues.get(url)
            if worker_queue is None:
                worker_queue = self._queues[url] = queue.Queue()
                thread = threading.Thread(
                    target=self._work,
                    args=(worker_queue,),
                    name=f"sandbox-webhook-{len(self._queues)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
        worker_queue.put(job)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued delivery finished (tests and shutdown use it)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            queues = list(self._queues.values())
        for worker_queue in queues:
            worker_queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=2)

    def _work(self, worker_queue: queue.Queue) -> None:
        with httpx.Client(timeout=10.0) as client:
            while True:
                job = worker_queue.get()
                if job is _STOP:
                    return
                try:
                    if self._stopping.is_set():
                        logger.warning("sandbox: stopping, dropped webhook %s to %s", job["kind"], job["url"])
                    else:
                        self._deliver(client, job)
                except Exception:  # a worker must survive anything one delivery does
                    logger.exception("sandbox: webhook delivery crashed")
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, client: httpx.Client, job: dict[str, Any]) -> None:
        config = self._get_config()
        attempts = max(1, int(config["webhook_retry_attempts"])) if config["webhook_retry"] else 1
        base_delay_s = float(config["webhook_retry_base_ms"]) / 1000
        target, extra_headers = loopback_target(job["url"])
        headers = {"User-Agent": "facebookexternalua", **job["headers"], **extra_headers}
        entry = {
            "url": job["url"],
            "kind": job["kind"],
            "attempts": 0,
            "ok": False,
            "status_code": None,
            "error": "",
        }
        for attempt in range(1, attempts + 1):
            entry["attempts"] = attempt
            try:
                response = client.post(target, content=job["body"], headers=headers)
                entry["status_code"] = response.status_code
                entry["error"] = "" if response.is_success else response.text[:300]
                entry["ok"] = response.is_success
            except httpx.HTTPError as exc:
                entry["status_code"], entry["error"] = None, f"{type(exc).__name__}: {exc}"
            if entry["ok"]:
                break
            logger.warning(
                "sandbox: webhook %s to %s failed (attempt %d/%d): %s %s",
                job["kind"],
                job["url"],
                attempt,
                attempts,
                entry["status_code"],
                entry["error"][:120],
            )
            if attempt < attempts and not self._stopping.wait(base_delay_s * 2 ** (attempt - 1)):
                continue
            break
        entry["at"] = time.time()
        self.log.append(entry)


class Timer:
    """A single thread running callbacks at their due time (monotonic clock), in due order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-timer", daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._counter), callback))
            self._condition.notify()

    def pending(self) -> int:
        with self._condition:
            return len(self._heap)

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stopping:
                    return
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                logger.exception("sandbox: scheduled callback failed")
