"""API v1 under load through daphne, with key authentication and throttling on (a high limit).

    python bench/api.py [--requests 5000] [--concurrency 32] [--web-processes 1]

Measures POST /api/v1/messages (a template to a new or known number) and GET /api/v1/conversations,
then the same load against the bare insert view (the ceiling of bench/ingest.py), and prints p50/p99,
requests per second and the ratio. Targets: at least 0.5 of the ceiling, p99 under 60 ms.

Throughput is measured saturated (--concurrency); latency at saturation is queueing (concurrency /
throughput), so p50/p99 are also measured at a steady client load (--latency-concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    CEILING_PORT,
    cpu_seconds,
    drop_database,
    load,
    migrate,
    report,
    scratch_env,
    start_daphne,
    stop,
)

BENCH_DB = "omnidesk_bench_api"
API_PORT = 8303


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    # Both servers run alike: the API and the ceiling each as `--web-processes` daphnes (scripts/web.py).
    parser.add_argument("--web-processes", type=int, default=1)
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=2, with_ceiling_table=True)
    migrate(env)

    import django

    django.setup()
    from django_tenants.utils import schema_context

    from api.services import api_key_create
    from channels_wa.services import channel_create
    from core.redis import get_redis
    from inbox.models import Contact, ContactIdentity, Conversation
    from tenants.models import Plan
    from tenants.services import company_create

    get_redis().flushdb()
    Plan.objects.filter(code="enterprise").update(api_requests_per_minute=1_000_000)
    company_create(
        name="Bench API",
        slug="benchapi",
        owner_email="o@api.test",
        owner_password="bench-password-1",
        plan_code="enterprise",
    )
    with schema_context("benchapi"):
        channel = channel_create(
            provider="meta_whatsapp",
            name="Bench",
            external_id="600000000000001",
            access_token="x",
            app_secret="y",
            api_base_url="http://127.0.0.1:9",
        )
        key = api_key_create(name="bench", scopes=["messages:send", "conversations:read"]).plaintext
        for i in range(1000):
            contact = Contact.objects.create(phone=f"+1555700{i:04d}", whatsapp_id=f"1555700{i:04d}")
            ContactIdentity.objects.create(contact=contact, kind="whatsapp", value=contact.whatsapp_id)
            Conversation.objects.create(contact=contact, channel=channel)

    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [
        json.dumps(
            {
                "channel_id": channel.id,
                "to": f"+1555700{i % 2000:04d}",
                "type": "template",
                "template": {"name": "hello_world", "language": "en_US"},
            }
        ).encode()
        for i in range(args.requests)
    ]
    api_url = f"http://127.0.0.1:{API_PORT}/api/v1"
    targets = {
        "POST /api/v1/messages": (f"{api_url}/messages", "benchapi.localhost", "POST"),
        "GET /api/v1/conversations": (f"{api_url}/conversations?status=open", "benchapi.localhost", "GET"),
        "bare insert view (ceiling)": (f"http://127.0.0.1:{CEILING_PORT}/ingest/", "127.0.0.1", "POST"),
    }
    server = ceiling = None
    try:
        server = start_daphne(API_PORT, env, "bench-api-daphne.log", processes=args.web_processes)
        ceiling = start_daphne(
            CEILING_PORT,
            {**env, "DJANGO_SETTINGS_MODULE": "bench.ceiling_settings"},
            "bench-ceiling.log",
            processes=args.web_processes,
        )
        # Rounds alternate the three targets, so that a busy machine slows them all alike.
        print(
            f"{args.requests} requests per target at concurrency {args.concurrency}, "
            f"in {args.rounds} rounds; each server {args.web_processes} daphne process(es)",
            flush=True,
        )
        totals = {name: ([], 0, 0.0) for name in targets}
        cpu_s = {name: [0.0, 0.0] for name in targets}  # [the server's, the load generator's]
        servers = {name: ceiling if "ceiling" in name else server for name in targets}
        chunk = args.requests // args.rounds
        for round_number in range(args.rounds):
            part = bodies[round_number * chunk : (round_number + 1) * chunk]
            for name, (url, host, method) in targets.items():
                server_cpu, own_cpu = cpu_seconds(servers[name].pid), time.process_time()
                latencies, errors, elapsed = asyncio.run(
                    load(url, host, part, args.concurrency, headers_for=lambda body: auth, method=method)
                )
                cpu_s[name][0] += cpu_seconds(servers[name].pid) - server_cpu
                cpu_s[name][1] += time.process_time() - own_cpu
                so_far = totals[name]
                totals[name] = (so_far[0] + latencies, so_far[1] + errors, so_far[2] + elapsed)
        rps = {name: report(name, *totals[name]) for name in targets}
        # Where the CPU goes: daphne runs Python under one interpreter lock, so a server that needs N ms of
        # CPU per request tops out near 1000/N requests a second; the load generator shares the 2 cores.
        for name in targets:
            count = len(totals[name][0])
            print(
                f"CPU per request, {name}: server {cpu_s[name][0] / count * 1000:.2f} ms, "
                f"load generator {cpu_s[name][1] / count * 1000:.2f} ms"
            )
        ceiling_rate = rps["bare insert view (ceiling)"]
        print(
            f"ratio POST messages: {rps['POST /api/v1/messages'] / ceiling_rate:.2f}; "
            f"GET conversations: {rps['GET /api/v1/conversations'] / ceiling_rate:.2f}"
        )
        sample = bodies[: max(200, len(bodies) // 5)]
        print(f"latency at concurrency {args.latency_concurrency}, {len(sample)} requests", flush=True)
        for name, (url, host, method) in targets.items():
            steady = load(url, host, sample, args.latency_concurrency, lambda b: auth, method=method)
            report(f"{name} (steady)", *asyncio.run(steady))
    finally:
        stop(server, ceiling)
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
