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
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from config import embedded  # noqa: E402

BENCH_DB = "omnidesk_bench_ingest"
APP_SECRET = "bench-app-secret"
NUMBER_ID = "400000000000001"
SERVER_PORT, CEILING_PORT = 8301, 8302


def db_url(base_url: str, database: str) -> str:
    return urlunparse(urlparse(base_url)._replace(path=f"/{database}"))


def recreate_database(base_url: str, name: str = BENCH_DB) -> str:
    import psycopg

    with psycopg.connect(db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = db_url(base_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body text NOT NULL)")
    return url


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


async def load(
    url: str, host: str, bodies: list[bytes], concurrency: int, headers_for=None, method: str = "POST"
) -> tuple[list[float], int, float]:
    """Send every body (or GET once per body when method is GET) at the given concurrency."""
    headers_for = headers_for or signed
    import httpx

    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers={"Host": host}) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                try:
                    if method == "GET":
                        response = await client.get(url, headers=headers_for(body))
                    else:
                        response = await client.post(url, content=body, headers=headers_for(body))
                    if response.status_code >= 300:
                        errors += 1
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def report(name: str, latencies: list[float], errors: int, elapsed: float) -> float:
    ordered = sorted(latencies)
    rps = len(latencies) / elapsed
    print(
        f"{name}: {len(latencies)} requests in {elapsed:.1f} s = {rps:.0f} req/s; "
        f"ack p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms; "
        f"errors {errors}",
        flush=True,
    )
    return rps


def start(command: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
    log = open(embedded.DATA_DIR / log_name, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while not embedded.port_answers("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing answers on port {port}; see .data/bench-*.log")
        time.sleep(0.2)


def rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return (
        process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
    ) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redeliveries", type=float, default=0.10)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    args = parser.parse_args()

    embedded.apply_defaults()
    base_url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(base_url),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
        "REDIS_URL": os.environ["REDIS_URL"][:-2] + "/14",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ALLOWED_HOSTS": "*",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--verbosity", "0"], env=env, check=True)

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

    server = start(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(SERVER_PORT),
            "config.asgi:application",
        ],
        env,
        "bench-daphne.log",
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
    ceiling = None
    try:
        wait_port(SERVER_PORT)
        time.sleep(3)  # worker start-up
        started = time.perf_counter()
        latencies, errors, elapsed = asyncio.run(
            load(
                f"http://127.0.0.1:{SERVER_PORT}/webhooks/whatsapp/{channel.uuid}/",
                "bench.localhost",
                bodies,
                args.concurrency,
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
        server.terminate()
        server.wait(timeout=15)

        ceiling_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.ceiling_settings"}
        ceiling = start(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(CEILING_PORT),
                "config.asgi:application",
            ],
            ceiling_env,
            "bench-ceiling.log",
        )
        wait_port(CEILING_PORT)
        latencies, errors, elapsed = asyncio.run(
            load(f"http://127.0.0.1:{CEILING_PORT}/ingest/", "127.0.0.1", bodies, args.concurrency)
        )
        ceiling_rps = report("bare insert view (ceiling)", latencies, errors, elapsed)
        print(f"throughput ratio: {rps / ceiling_rps:.2f} of the ceiling")
    finally:
        for proc in (server, worker, ceiling):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(db_url(base_url, "postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
