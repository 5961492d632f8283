"""Campaign dispatch against the WhatsApp sandbox with real Celery worker processes.

    python bench/campaign.py [--recipients 20000] [--rate 80] [--fast-rate 1000] [--audience 100000]
                             [--memory-run-s 60] [--workers 2] [--worker-concurrency 8]

(a) `--recipients` on a channel limited to `--rate`/s: the rate achieved after the first second (target:
    within 3% of the channel's rate) and the throttling errors (130429) the sandbox answered (target: 0);
(b) the same count on a channel at `--fast-rate`/s with `--workers` worker processes (target >= 500/s);
(c) creating the recipients of an `--audience`-contact audience (target < 10 s);
(d) peak resident memory of each worker process during (a)+(b) and while dispatching the large audience
    for `--memory-run-s` seconds (target < 300 MB).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import drop_database, migrate, rss_mb, scratch_env, start, stop, wait_port  # noqa: E402

BENCH_DB = "omnidesk_bench_campaign"
SANDBOX_PORT = 8166
TEMPLATE = {
    "name": "bench_offer",
    "language": "en_US",
    "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hi {{1}}, this week only: {{2}}"}],
}


def sandbox_sends(number_id: str) -> list[float]:
    import httpx

    rows = httpx.get(
        f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/sent", params={"number": number_id}, timeout=60
    )
    return sorted(m["timestamp"] for m in rows.json()["data"])


def make_contacts(n: int, tag: str, offset: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inbox_contact (phone, whatsapp_id, name, profile_name, tags, custom_attributes,"
            " is_opted_out, avatar_url, created_at, updated_at)"
            " SELECT '+447' || lpad((%s + g)::text, 9, '0'), '447' || lpad((%s + g)::text, 9, '0'),"
            " 'Customer ' || g, '', ARRAY[%s]::varchar[], '{}'::jsonb, false, '', now(), now()"
            " FROM generate_series(1, %s) AS g",
            [offset, offset, tag, n],
        )
    print(f"  {n} contacts tagged {tag} inserted in {time.perf_counter() - started:.1f} s", flush=True)


def run_campaign(channel, tag: str, workers: list, label: str, *, timeout_s: float) -> dict:
    from django_tenants.utils import schema_context

    from campaigns.models import Recipient
    from campaigns.services import campaign_create, campaign_start

    with schema_context("bench"):
        campaign = campaign_create(
            name=label,
            channel=channel,
            audience={"tags": [tag]},
            template_name="bench_offer",
            template_language="en_US",
            template_variables=[
                {"source": "field", "key": "first_name", "fallback": "there"},
                {"source": "static", "key": "https://shop.example.com/offer"},
            ],
            is_quiet_hours_enabled=False,
            auto_stop_sample=1000,
        )
        started = time.perf_counter()
        campaign_start(campaign=campaign)
        created_s = time.perf_counter() - started
    peaks = [0.0] * len(workers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        peaks = [max(p, rss_mb(w.pid)) for p, w in zip(peaks, workers, strict=True)]
        with schema_context("bench"):
            campaign.refresh_from_db()
        if campaign.status not in ("running", "quiet_hours"):
            break
        time.sleep(0.5)
    with schema_context("bench"):
        retried = Recipient.objects.filter(campaign=campaign, attempts__gt=1).count()
        throttled = Recipient.objects.filter(campaign=campaign, error_code="130429").count()
        counts = dict(
            Recipient.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
        )
    if campaign.stop_reason:
        print(f"    {label}: {campaign.stop_reason}", flush=True)
    return {
        "campaign": campaign,
        "created_s": created_s,
        "peaks": peaks,
        "retried": retried,
        "throttled": throttled,
        "counts": counts,
    }


def rate_report(label: str, times: list[float], rate: int) -> float:
    if len(times) < 2:
        print(f"{label}: too few sends to measure", flush=True)
        return 0.0
    after_first = [t for t in times if t >= times[0] + 1.0]
    achieved = (len(after_first) - 1) / (after_first[-1] - after_first[0]) if len(after_first) > 1 else 0.0
    busiest = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    total_s = times[-1] - times[0]
    print(
        f"{label}: {len(times)} sent in {total_s:.1f} s; achieved after the first second "
        f"{achieved:.1f}/s ({(achieved / rate - 1) * 100:+.1f}% of {rate}/s); busiest one-second window "
        f"{busiest}",
        flush=True,
    )
    return achieved


Count = None  # set after django.setup()


def main() -> None:
    global Count
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=80)
    parser.add_argument("--fast-rate", type=int, default=1000)
    parser.add_argument("--audience", type=int, default=100000)
    parser.add_argument("--memory-run-s", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    base_url, env = scratch_env(
        database=BENCH_DB,
        redis_db=6,
        WHATSAPP_SANDBOX_URL=f"http://127.0.0.1:{SANDBOX_PORT}",
        WHATSAPP_SANDBOX_WEBHOOK_BASE="http://127.0.0.1:9",
        CAMPAIGN_MAX_DISPATCHERS=str(args.workers * args.worker_concurrency),
    )
    migrate(env)
    import django

    django.setup()
    import httpx
    from django.db.models import Count as _Count
    from django_tenants.utils import schema_context

    Count = _Count
    from campaigns.audience import recipients_create
    from campaigns.models import Campaign
    from channels_wa.services import channel_create
    from core.redis import get_redis
    from tenants.services import company_create

    get_redis().flushdb()
    company_create(
        name="Bench",
        slug="bench",
        owner_email="o@bench.test",
        owner_password="bench-pass-1",
        plan_code="enterprise",
    )
    sandbox = start(
        [sys.executable, "-m", "channels_wa.sandbox", "--port", str(SANDBOX_PORT)], env, "bench-sandbox.log"
    )
    workers = []
    try:
        wait_port(SANDBOX_PORT)
        # Statuses would go to a closed port; push them past the run so the sandbox spends its time on sends.
        httpx.put(
            f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/config",
            json={"status_delay_ms": 3_600_000, "auto_read": False, "webhook_retry": False},
        ).raise_for_status()
        channels = {}
        with schema_context("bench"):
            for name, rate in (("paced", args.rate), ("fast", args.fast_rate)):
                number_id = f"5000000000{rate:05d}"
                channels[name] = channel_create(
                    provider="sandbox",
                    name=f"Bench {rate}/s",
                    external_id=number_id,
                    phone_number=f"+1555{rate:07d}",
                    account_id=f"waba-{number_id}",
                    access_token="bench-token",
                    app_secret="bench-secret",
                    rate_per_s=rate,
                )
                httpx.put(
                    f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/templates/waba-{number_id}", json=TEMPLATE
                ).raise_for_status()
            make_contacts(args.recipients, "bench-a", 0)
            make_contacts(args.recipients, "bench-b", 100_000_000)
            make_contacts(args.audience, "bench-c", 200_000_000)

        if "c" not in skip:
            with schema_context("bench"):
                big = campaign_create_for(channels["fast"], "bench-c")
                started = time.perf_counter()
                total = recipients_create(campaign=big)
                elapsed = time.perf_counter() - started
            print(
                f"(c) recipients of a {args.audience}-contact audience: {total} rows in {elapsed:.2f} s",
                flush=True,
            )
            with schema_context("bench"):
                Campaign.objects.filter(pk=big.pk).delete()

        workers = [
            start(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                    "--pool", "threads", "--concurrency", str(args.worker_concurrency),
                    "--without-mingle", "--without-gossip", "--hostname", f"bench{i}@%h",
                ],
                env,
                f"bench-campaign-worker{i}.log",
            )
            for i in range(args.workers)
        ]  # fmt: skip
        time.sleep(4)
        peaks: list[float] = [0.0] * len(workers)
        if "a" not in skip:
            result = run_campaign(
                channels["paced"], "bench-a", workers, "paced", timeout_s=args.recipients / args.rate * 3 + 60
            )
            rate_report(f"(a) {args.rate}/s channel", sandbox_sends(channels["paced"].external_id), args.rate)
            print(
                f"    recipients: {result['counts']}; retried {result['retried']}, "
                f"130429 left {result['throttled']}",
                flush=True,
            )
            peaks = [max(p, q) for p, q in zip(peaks, result["peaks"], strict=True)]
        if "b" not in skip:
            result = run_campaign(
                channels["fast"], "bench-b", workers, "fast", timeout_s=args.recipients / 50 + 60
            )
            rate_report(
                f"(b) {args.fast_rate}/s channel, {args.workers} workers x {args.worker_concurrency} threads",
                sandbox_sends(channels["fast"].external_id),
                args.fast_rate,
            )
            print(f"    recipients: {result['counts']}; retried {result['retried']}", flush=True)
            peaks = [max(p, q) for p, q in zip(peaks, result["peaks"], strict=True)]
        print(
            f"(d) worker peak RSS with {args.recipients} recipients: "
            + ", ".join(f"{p:.0f} MB" for p in peaks),
            flush=True,
        )
        if args.memory_run_s > 0:
            with schema_context("bench"):
                big = campaign_create_for(channels["fast"], "bench-c")
                from campaigns.services import campaign_cancel, campaign_start

                campaign_start(campaign=big)
            peaks = [0.0] * len(workers)
            deadline = time.monotonic() + args.memory_run_s
            while time.monotonic() < deadline:
                peaks = [max(p, rss_mb(w.pid)) for p, w in zip(peaks, workers, strict=True)]
                time.sleep(0.5)
            with schema_context("bench"):
                big.refresh_from_db()
                sent = big.recipients.filter(status="sent").count()
                campaign_cancel(campaign=big)
            print(
                f"(d) worker peak RSS dispatching a {args.audience}-recipient campaign "
                f"for {args.memory_run_s:.0f} s "
                f"({sent} sent): " + ", ".join(f"{p:.0f} MB" for p in peaks),
                flush=True,
            )
    finally:
        stop(*workers, sandbox)
        drop_database(base_url, BENCH_DB)


def campaign_create_for(channel, tag: str):
    from campaigns.services import campaign_create

    return campaign_create(
        name=f"Audience {tag}",
        channel=channel,
        audience={"tags": [tag]},
        template_name="bench_offer",
        template_language="en_US",
        template_variables=[{"source": "field", "key": "first_name"}, {"source": "static", "key": "x"}],
        is_quiet_hours_enabled=False,
        auto_stop_sample=1000,
    )


if __name__ == "__main__":
    main()
