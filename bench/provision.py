"""Provisioning speed: create N companies in a scratch database and time each, then time a no-op
`migrate_schemas` over all of them.

    python bench/provision.py [--count 200] [--keep]

Target: under 3 s per company and not growing with the count; no-op migrate under 60 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import drop_database, migrate, scratch_env  # noqa: E402

BENCH_DB = "omnidesk_bench_provision"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=1)
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

    if not args.keep:
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
