"""Webhook ingest under load, against the real ASGI server (daphne) and a real Celery worker.

    python bench/ingest.py [--requests 20000] [--concurrency 32] [--redeliveries 0.10]

Sends signed WhatsApp Cloud webhooks (one text message each, 10% sent twice) to a channel URL, then
runs the same load against a bare Django view that inserts one row (this machine's ceiling) and prints
both, the ratio, the time until every event is processed, the exactly-once check and worker memory.
Targets: p99 ack < 50 ms, throughput >= 0.6 of the ceiling, zero lost, zero duplicated, worker RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    ceiling_rps,
    drop_database,
    load,
    migrate,
    report,
    rss_mb,
    scratch_env,
    start,
    start_daphne,
    stop,
)

BENCH_DB = "omnidesk_bench_ingest"
APP_SECRET = "bench-app-secret"
NUMBER_ID = "400000000000001"
SERVER_PORT = 8301


def payload(i: int) -> bytes:
    now = str(int(time.time()))
    customer = str(15550000000 + i % 500)
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "500000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550004000", "phone_number_id": NUMBER_ID},
                            "contacts": [{"profile": {"name": f"Customer {i % 500}"}, "wa_id": customer}],
                            "messages": [
                                {
                                    "from": customer,
                                    "id": f"wamid.BENCH{i:08d}",
                                    "timestamp": now,
                                    "type": "text",
                                    "text": {"body": f"Message number {i}"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redeliveries", type=float, default=0.10)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=3, with_ceiling_table=True)
    migrate(env)

    import django

    django.setup()
    from django_tenants.utils import schema_context

    from channels_wa.services import channel_create
    from core.redis import get_redis
    from inbox.models import Message
    from tenants.models import WebhookEvent
    from tenants.services import company_create

    get_redis().flushdb()
    company_create(
        name="Bench",
        slug="bench",
        owner_email="o@bench.test",
        owner_password="bench-password-1",
        plan_code="enterprise",
    )
    with schema_context("bench"):
        channel = channel_create(
            provider="meta_whatsapp",
            name="Bench",
            external_id=NUMBER_ID,
            access_token="x",
            app_secret=APP_SECRET,
            api_base_url="http://127.0.0.1:9",
        )

    unique = [payload(i) for i in range(int(args.requests / (1 + args.redeliveries)))]
    bodies = unique + random.Random(7).sample(unique, args.requests - len(unique))
    random.Random(8).shuffle(bodies)
    print(
        f"{len(bodies)} webhook POSTs, {len(unique)} unique messages, "
        f"{len(bodies) - len(unique)} redeliveries, "
        f"concurrency {args.concurrency}",
        flush=True,
    )

    worker = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--pool",
            "threads",
            "--concurrency",
            str(args.worker_concurrency),
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        "bench-worker.log",
    )
    server = None
    try:
        server = start_daphne(SERVER_PORT, env, "bench-daphne.log")
        time.sleep(3)  # worker start-up
        started = time.perf_counter()
        latencies, errors, elapsed = asyncio.run(
            load(
                f"http://127.0.0.1:{SERVER_PORT}/webhooks/whatsapp/{channel.uuid}/",
                "bench.localhost",
                bodies,
                args.concurrency,
                headers_for=signed,
            )
        )
        rps = report("omnidesk webhook", latencies, errors, elapsed)
        peak_rss = rss_mb(worker.pid)
        deadline = time.monotonic() + 600
        while WebhookEvent.objects.filter(status="pending").exists() and time.monotonic() < deadline:
            peak_rss = max(peak_rss, rss_mb(worker.pid))
            time.sleep(0.5)
        processed_s = time.perf_counter() - started
        with schema_context("bench"):
            stored = Message.objects.filter(channel_id=channel.id).count()
        events = WebhookEvent.objects.count()
        failed = WebhookEvent.objects.exclude(status="processed").count()
        print(
            f"events not processed: {WebhookEvent.objects.filter(status='pending').count()} pending, "
            f"{WebhookEvent.objects.filter(status='failed').count()} failed"
        )
        print(
            f"all processed {processed_s:.1f} s after the first request; stored events {events} "
            f"(failed {failed}); messages stored {stored} for {len(unique)} unique sent: "
            f"{'EXACTLY ONCE' if stored == len(unique) else 'MISMATCH'} "
            f"(lost {max(0, len(unique) - stored)}, duplicated {max(0, stored - len(unique))})"
        )
        print(f"worker resident memory ({args.worker_concurrency} threads): peak {peak_rss:.0f} MB")
        stop(server)
        ceiling = ceiling_rps(env, bodies, args.concurrency, headers_for=signed)
        print(f"throughput ratio: {rps / ceiling:.2f} of the ceiling")
    finally:
        stop(server, worker)
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
