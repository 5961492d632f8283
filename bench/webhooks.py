"""Outbound webhook dispatch rate to a loopback receiver.

    python bench/webhooks.py [--events 5000] [--threads 16]

On a scratch database: one company with one endpoint pointing at a keep-alive HTTP receiver (its own
process, on 127.0.0.1) that verifies every signature with the README's recipe. Emits the events (the
outbox rows; their after-commit tasks are not sent to a broker), then drains them by calling the
dispatcher, `webhook_deliver`, from N threads, as N Celery worker threads would (no broker in the
measured path), and prints deliveries/s and the exactly-once check. Target: >= 300 deliveries/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.common import drop_database, migrate, scratch_env  # noqa: E402

BENCH_DB = "omnidesk_bench_webhooks"


def readme_verifier():
    section = (ROOT / "README.md").read_text().split("## Receiving OmniDesk webhooks", 1)[1]
    namespace: dict = {}
    exec(section.split("```python\n", 1)[1].split("```", 1)[0], namespace)
    return namespace["verify_omnidesk_signature"]


def receiver_process(conn) -> None:
    """A keep-alive HTTP receiver in its own process (as a customer's server is): it sends its port, gets
    the signing secret, answers 200 to validly signed posts, and reports what it accepted when asked."""
    verify, lock = readme_verifier(), threading.Lock()
    accepted: Counter[str] = Counter()
    state = {"secret": "", "bad_signatures": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no ~40 ms wait between the headers and the body

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            is_valid = verify(state["secret"], self.headers.get("X-OmniDesk-Signature", ""), body)
            with lock:
                if is_valid:
                    accepted[self.headers["X-OmniDesk-Delivery"]] += 1
                else:
                    state["bad_signatures"] += 1
            self.send_response(200 if is_valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    state["secret"] = conn.recv()
    conn.recv()  # asked for the report
    conn.send((dict(accepted), state["bad_signatures"]))
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    base_url, env = scratch_env(
        database=BENCH_DB,
        redis_db=4,
        WEBHOOK_ALLOW_PRIVATE_TARGETS="1",
        DATABASE_POOL_MAX_SIZE=str(max(16, args.threads + 2)),
    )
    conn, child_conn = multiprocessing.get_context("fork").Pipe()
    receiver = multiprocessing.get_context("fork").Process(
        target=receiver_process, args=(child_conn,), daemon=True
    )
    receiver.start()
    receiver_url = f"http://127.0.0.1:{conn.recv()}/hooks"
    migrate(env)

    import django

    django.setup()
    from django.db import connections, transaction
    from django_tenants.utils import schema_context

    from automation.models import WebhookDelivery
    from automation.services import webhook_deliver, webhook_endpoint_create, webhook_event_emit
    from tenants.services import company_create

    try:
        company_create(
            name="Bench",
            slug="bench",
            owner_email="o@bench.test",
            owner_password="bench-password-1",
            plan_code="enterprise",
        )
        with schema_context("bench"):
            _, secret = webhook_endpoint_create(url=receiver_url, events=[])
            conn.send(secret)
            data = {
                "id": 1,
                "conversation_id": 1,
                "direction": "inbound",
                "body": "x" * 200,
                "status": "received",
            }
            started = time.perf_counter()
            # The outbox rows only: the after-commit tasks would go to a broker nobody drains here.
            with mock.patch("automation.tasks.deliver_webhook.apply_async"):
                for start in range(0, args.events, 500):
                    with transaction.atomic():
                        for _ in range(min(500, args.events - start)):
                            webhook_event_emit(event_type="message.received", data=data)
            emit_s = time.perf_counter() - started
            ids = [str(i) for i in WebhookDelivery.objects.values_list("delivery_id", flat=True)]
        print(f"emitted {len(ids)} events in {emit_s:.1f} s = {len(ids) / emit_s:.0f} events/s", flush=True)

        work: queue.Queue[str] = queue.Queue()
        for delivery_id in ids:
            work.put(delivery_id)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        def worker() -> None:
            local: Counter[str] = Counter()
            with schema_context("bench"):
                while True:
                    try:
                        delivery_id = work.get_nowait()
                    except queue.Empty:
                        break
                    local[webhook_deliver(delivery_id=delivery_id)] += 1
            connections.close_all()
            with lock:
                outcomes.update(local)

        threads = [threading.Thread(target=worker) for _ in range(args.threads)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started

        with schema_context("bench"):
            statuses = Counter(WebhookDelivery.objects.values_list("status", flat=True))
        conn.send("report")
        accepted, bad_signatures = conn.recv()
        duplicated = sum(1 for count in accepted.values() if count > 1)
        lost = len(set(ids) - set(accepted))
        print(f"outcomes: {dict(outcomes)}; rows: {dict(statuses)}; bad signatures: {bad_signatures}")
        print(
            f"receiver accepted {sum(accepted.values())} posts for {len(ids)} deliveries: "
            f"{'EXACTLY ONCE' if not duplicated and not lost else 'MISMATCH'} "
            f"(lost {lost}, duplicated {duplicated})"
        )
        print(
            f"dispatcher: {len(ids)} deliveries in {elapsed:.1f} s with {args.threads} threads calling "
            f"webhook_deliver = {len(ids) / elapsed:.0f} deliveries/s (target >= 300)",
            flush=True,
        )
    finally:
        receiver.kill()
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
