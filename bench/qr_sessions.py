"""QR-session runner figures: resident memory per idle session, lease failover time after killing a
runner, and the time from an outbound request to the hand-off to the connection (neonize's send).

    python bench/qr_sessions.py [--sessions 40] [--sends 200] [--keep]

WhatsApp's servers are unreachable here, so "idle session" is measured two ways and labelled:
- with the test double at client.py's boundary (the runner's own cost per session: thread, queue, state);
- with the real NeonizeConnection (whatsmeow loaded, store in PostgreSQL), whose dial fails offline and
  waits in backoff; a connected whatsmeow session also holds a websocket and its keys in memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import drop_database, migrate, rss_mb, scratch_env, start, stop  # noqa: E402

BENCH_DB = "omnidesk_bench_qr"
FAKE = "tests.channels_wa.qr_session.fake_connection.FakeConnection"
FAST = {
    "QR_LEASE_TTL_S": "3",
    "QR_HEARTBEAT_S": "0.5",
    "QR_RECONNECTS_PER_S": "200",
    "QR_PACING_SCALE": "0",
    "QR_SEND_TIMEOUT_S": "20",
}


def wait_for(predicate, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"timed out waiting for {what}; see .data/bench-qr-*.log")
        time.sleep(0.05)
    return time.monotonic() - started


def states(schema: str) -> dict[str, int]:
    from django.db.models import Count
    from django_tenants.utils import schema_context

    from channels_wa.models import QRSession

    with schema_context(schema):
        return dict(QRSession.objects.values_list("state").annotate(n=Count("id")))


def holders() -> dict[str, int]:
    from django.db.models import Count

    from tenants.models import QRSessionLease

    return dict(QRSessionLease.objects.exclude(runner_id="").values_list("runner_id").annotate(n=Count("id")))


def runner(env: dict, name: str, connection: str):
    return start(
        [sys.executable, "manage.py", "run_wa_sessions", "--runner-id", name],
        {**env, "QR_SESSION_CONNECTION": connection},
        f"bench-qr-{name}.log",
    )


def runner_rss(env: dict, schema: str, connection: str, label: str, count: int, expected: str) -> float:
    """Start a runner, wait until it has `count` sessions in `expected` state, read its RSS, stop it."""
    from tenants.models import QRRunner

    proc = runner(env, label, connection)
    if count:
        wait_for(lambda: states(schema).get(expected, 0) == count, 120, f"{count} sessions {expected}")
    time.sleep(3)
    mb = rss_mb(proc.pid)
    stop(proc)
    QRRunner.objects.all().delete()
    print(f"  {label}: runner RSS with {count} sessions {mb:.0f} MB", flush=True)
    return mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=13, **FAST)
    print(f"scratch database {BENCH_DB}; migrate took {migrate(env):.1f} s", flush=True)
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from channels_wa.models import QRSession
    from channels_wa.providers.qr_session.routing import runner_call
    from channels_wa.services import channel_create, channel_delete
    from core.redis import get_redis
    from tenants.models import QRSessionLease
    from tenants.services import company_create

    get_redis().flushdb()
    company_create(
        name="QR Bench",
        slug="qrbench",
        owner_email="o@qr.bench",
        owner_password="bench-password-1",
        plan_code="enterprise",  # 50 channels
    )
    schema = "qrbench"
    neonize = "channels_wa.providers.qr_session.client.NeonizeConnection"

    print("idle memory", flush=True)
    zero_mb = runner_rss(env, schema, FAKE, "zero", 0, "")
    with schema_context(schema):
        channels = [
            channel_create(provider="qr_session", name=f"QR {n}", external_id=f"qr-bench-{n:04d}")
            for n in range(args.sessions)
        ]
        # Logged in before: they connect from their stored keys, as after a restart.
        QRSession.objects.update(device_jid="15550000000:1@s.whatsapp.net")
    fake_mb = runner_rss(env, schema, FAKE, "fake", args.sessions, "ready")
    count = min(args.sessions, 20)
    with schema_context(schema):
        for channel in channels[count:]:
            channel_delete(channel=channel)
        QRSession.objects.update(state="not_started", device_jid="")
    # The real whatsmeow client: its dial fails offline, then it waits (long backoff) as an idle session.
    neonize_env = {**env, "QR_BACKOFF_BASE_S": "600", "QR_BACKOFF_CAP_S": "600"}
    real_mb = runner_rss(neonize_env, schema, neonize, "neonize", count, "disconnected")
    print(f"  runner with no session:                {zero_mb:.0f} MB")
    print(f"  per idle session, runner only (fake):  {(fake_mb - zero_mb) / args.sessions * 1024:.0f} KB")
    print(f"  per session, real neonize (offline):   {(real_mb - zero_mb) / count:.1f} MB")
    with schema_context(schema):
        QRSession.objects.update(state="not_started", device_jid="15550000000:1@s.whatsapp.net")
    QRSessionLease.objects.update(runner_id="", expires_at=None)

    print("failover", flush=True)
    a = runner(env, "A", FAKE)
    wait_for(lambda: states(schema).get("ready", 0) == count, 60, "all ready on A")
    b = runner(env, "B", FAKE)
    wait_for(lambda: sorted(holders().values()) == sorted([count - count // 2, count // 2]), 60, "rebalanced")
    rebalance_ready = wait_for(lambda: states(schema).get("ready", 0) == count, 60, "all ready on A and B")
    moving = holders().get("A", 0)
    killed = time.monotonic()
    a.send_signal(signal.SIGKILL)
    a.wait()
    wait_for(lambda: holders() == {"B": count}, 60, "B holds all")
    wait_for(lambda: states(schema).get("ready", 0) == count, 60, "all ready on B")
    failover_s = time.monotonic() - killed
    print(f"  rebalance on join settled; ready again {rebalance_ready:.1f} s after the split")
    print(f"  killed runner A ({moving} sessions): all ready on B after {failover_s:.1f} s (lease TTL 3 s)")

    print("outbound hand-off", flush=True)
    handoffs, totals = [], []
    with schema_context(schema):
        ids = list(QRSession.objects.values_list("channel_id", flat=True))
        for n in range(args.sends):
            channel_id = ids[n % len(ids)]
            started = time.perf_counter()
            reply = runner_call(
                schema_name=schema,
                channel_id=channel_id,
                op="send",
                payload={
                    "message": {"to": f"+1555100{n:04d}", "kind": "text", "text": "hi", "client_ref": f"b{n}"}
                },
            )
            totals.append((time.perf_counter() - started) * 1000)
            if reply.ok:
                handoffs.append(reply.data["handoff_ms"])
    ordered = sorted(handoffs)
    p50, p99 = statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]
    sends = f"{len(handoffs)}/{args.sends}"
    print(f"  {sends} sends; request → connection send(): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  round trip (reply back to caller) p50 {statistics.median(totals):.1f} ms; pacing pauses off")
    stop(b)
    if not args.keep:
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
