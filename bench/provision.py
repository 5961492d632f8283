"""Provisioning speed: create N companies in a scratch database and time each, then time a no-op
`migrate_schemas` over all of them.

    python bench/provision.py [--count 200] [--keep]

Target: under 3 s per company and not growing with the count; no-op migrate under 60 s.
"""

from __future__ import annotations

import argparse
import os
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

BENCH_DB = "omnidesk_bench_provision"


def admin_url(url: str, database: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{database}"))


def recreate_database(base_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return admin_url(base_url, BENCH_DB)


def drop_database(base_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def migrate(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--verbosity", "0"], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    embedded.apply_defaults()
    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = recreate_database(base_url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env = dict(os.environ)
    print(f"scratch database {BENCH_DB}; initial migrate took {migrate(env):.1f} s", flush=True)

    import django

    django.setup()
    from tenants.services import company_create, tenant_template_ensure

    started = time.perf_counter()
    tenant_template_ensure()
    print(f"template schema ready in {time.perf_counter() - started:.1f} s", flush=True)

    durations = []
    for i in range(args.count):
        started = time.perf_counter()
        company_create(
            name=f"Bench {i}",
            slug=f"bench{i:04d}",
            owner_email=f"owner{i}@bench.test",
            owner_password="bench-password-1",
        )
        durations.append(time.perf_counter() - started)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1} companies, last one {durations[-1]:.2f} s", flush=True)

    first, last = durations[:10], durations[-10:]
    print(f"companies created:            {len(durations)}")
    print(f"per company, first 10:        mean {statistics.mean(first):.2f} s, max {max(first):.2f} s")
    print(f"per company, last 10:         mean {statistics.mean(last):.2f} s, max {max(last):.2f} s")
    print(
        f"per company, all:             mean {statistics.mean(durations):.2f} s, "
        f"p95 {sorted(durations)[int(len(durations) * 0.95) - 1]:.2f} s"
    )
    noop = migrate(env)
    print(f"no-op migrate_schemas with {len(durations)} companies (+ template): {noop:.1f} s")

    from django.db import connections

    connections.close_all()
    if not args.keep:
        drop_database(base_url)


if __name__ == "__main__":
    main()
