"""API v1 under load through daphne, with key authentication and throttling on (a high limit).

    python bench/api.py [--requests 5000] [--concurrency 32]

Measures POST /api/v1/messages (a template to a new or known number) and GET /api/v1/conversations,
then the same load against the bare insert view (the ceiling of bench/ingest.py), and prints p50/p99,
requests per second and the ratio. Targets: at least 0.5 of the ceiling, p99 under 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.ingest import CEILING_PORT, db_url, load, recreate_database, report, start, wait_port  # noqa: E402
from config import embedded  # noqa: E402

BENCH_DB = "omnidesk_bench_api"
API_PORT = 8303


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    embedded.apply_defaults()
    base_url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(base_url, BENCH_DB),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
        "REDIS_URL": os.environ["REDIS_URL"][:-2] + "/13",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ALLOWED_HOSTS": "*",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--verbosity", "0"], env=env, check=True)

    import django

    django.setup()
    from django_tenants.utils import schema_context

    from api.services import api_key_create
    from channels_wa.services import channel_create
    from core.redis import get_redis
    from inbox.models import Contact, Conversation
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
    server = start(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(API_PORT), "config.asgi:application"],
        env,
        "bench-api-daphne.log",
    )
    ceiling = None
    try:
        wait_port(API_PORT)
        print(f"{args.requests} requests per endpoint at concurrency {args.concurrency}", flush=True)
        post = report(
            "POST /api/v1/messages",
            *asyncio.run(
                load(
                    f"http://127.0.0.1:{API_PORT}/api/v1/messages",
                    "benchapi.localhost",
                    bodies,
                    args.concurrency,
                    headers_for=lambda body: auth,
                )
            ),
        )
        get = report(
            "GET /api/v1/conversations",
            *asyncio.run(
                load(
                    f"http://127.0.0.1:{API_PORT}/api/v1/conversations?status=open",
                    "benchapi.localhost",
                    bodies,
                    args.concurrency,
                    headers_for=lambda body: auth,
                    method="GET",
                )
            ),
        )
        server.terminate()
        server.wait(timeout=15)
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
            {**env, "DJANGO_SETTINGS_MODULE": "bench.ceiling_settings"},
            "bench-ceiling.log",
        )
        wait_port(CEILING_PORT)
        with __import__("psycopg").connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, body text NOT NULL)"
            )
        ceiling_rps = report(
            "bare insert view (ceiling)",
            *asyncio.run(
                load(
                    f"http://127.0.0.1:{CEILING_PORT}/ingest/",
                    "127.0.0.1",
                    bodies,
                    args.concurrency,
                    headers_for=lambda body: {"Content-Type": "application/json"},
                )
            ),
        )
        print(f"ratio POST messages: {post / ceiling_rps:.2f}; GET conversations: {get / ceiling_rps:.2f}")
    finally:
        for proc in (server, ceiling):
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
