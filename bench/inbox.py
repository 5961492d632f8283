"""The inbox at size: one company with 100,000 conversations and 1,000,000 messages.

    python bench/inbox.py [--conversations 100000] [--messages-per-conversation 10] [--samples 40]
                          [--keep] [--reuse]

`--keep` leaves the seeded database behind; `--reuse` times that database again (after applying any new
migrations) instead of seeding a new one, and keeps it.

Bulk-loads with INSERT .. SELECT generate_series (minutes, not hours), then times the dashboard's own
endpoints in-process (middleware, selectors, templates and PostgreSQL; no network): the first page of
the conversation list for each filter combination, the next page, a thread page, older-message pages,
the sidebar counts and a text search; for a manager (sees all) and an agent (two departments of five).
Targets: list p99 < 30 ms, thread p99 < 20 ms, counts < 20 ms, search p99 < 150 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import drop_database, migrate, scratch_env  # noqa: E402

BENCH_DB = "omnidesk_bench_inbox"
SLUG = "benchinbox"
HOST = f"{SLUG}.localhost"
WORDS = (
    "order shipping refund invoice delivery payment address parcel tracking size colour price discount "
    "return exchange broken late thanks hello question warranty receipt store pickup courier"
).split()


SEARCHES = [
    ("Customer 4242", "contact name"),
    ("555004242", "phone digits"),
    ("number 777-3", "rare message text"),
    ("warranty", "word in 8% of messages"),
    ("zzznothing", "no match"),
]


def seed(conversations: int, per_conversation: int) -> dict:
    from django.db import connection
    from django_tenants.utils import schema_context

    from accounts.models import Department, User
    from channels_wa.services import channel_create
    from inbox.models import Label
    from tenants.services import company_create

    company_create(
        name="Bench Inbox",
        slug=SLUG,
        owner_email="o@inbox.test",
        owner_password="bench-password-1",
        plan_code="enterprise",
    )
    with schema_context(SLUG):
        channels = [
            channel_create(
                provider="meta_whatsapp",
                name=f"Line {n}",
                external_id=f"70000000000000{n}",
                access_token="x",
                app_secret="y",
                api_base_url="http://127.0.0.1:9",
            )
            for n in range(3)
        ]
        departments = [Department.objects.create(name=f"Team {n}") for n in range(5)]
        agents = [
            User.objects.create_user(f"agent{n}@inbox.test", "bench-password-1", role="agent")
            for n in range(10)
        ]
        for n, agent in enumerate(agents):
            agent.departments.set(departments[n % 5 : n % 5 + 2])
        manager = User.objects.create_user("manager@inbox.test", "bench-password-1", role="manager")
        labels = [Label.objects.create(name=f"label-{n}") for n in range(10)]
        started = time.perf_counter()
        words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
        channel_ids = "ARRAY[" + ",".join(str(c.id) for c in channels) + "]"
        department_ids = "ARRAY[" + ",".join(str(d.id) for d in departments) + "]"
        agent_ids = "ARRAY[" + ",".join(str(a.id) for a in agents) + "]"
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO inbox_contact (phone, whatsapp_id, name, profile_name, tags, custom_attributes,
                                           is_opted_out, avatar_url, created_at, updated_at)
                SELECT '+1555' || lpad(g::text, 7, '0'), '1555' || lpad(g::text, 7, '0'),
                       'Customer ' || g, ({words})[1 + g % {len(WORDS)}] || ' fan ' || g, '{{}}', '{{}}',
                       false, '', now(), now()
                FROM generate_series(1, {conversations}) g
                """
            )
            cursor.execute("SELECT min(id) FROM inbox_contact")
            first_contact = cursor.fetchone()[0]
            cursor.execute(
                f"""
                INSERT INTO inbox_conversation (contact_id, channel_id, status, assignee_id, department_id,
                    priority, last_message_at, last_message_preview, last_inbound_at, window_expires_at,
                    unread_count, created_at, updated_at)
                SELECT {first_contact} + g - 1,
                       ({channel_ids})[1 + g % 3],
                       CASE WHEN g % 10 < 3 THEN 'open' WHEN g % 10 = 3 THEN 'pending'
                            WHEN g % 10 = 4 THEN 'snoozed' ELSE 'resolved' END,
                       CASE WHEN g % 3 = 0 THEN NULL ELSE ({agent_ids})[1 + g % 10] END,
                       CASE WHEN g % 7 = 0 THEN NULL ELSE ({department_ids})[1 + g % 5] END,
                       'none',
                       now() - (g || ' minutes')::interval,
                       'Message about ' || ({words})[1 + g % {len(WORDS)}],
                       now() - (g || ' minutes')::interval,
                       now() - (g || ' minutes')::interval + interval '24 hours',
                       g % 4, now(), now()
                FROM generate_series(1, {conversations}) g
                """
            )
            cursor.execute("SELECT min(id) FROM inbox_conversation")
            first_conversation = cursor.fetchone()[0]
            cursor.execute(
                f"""
                INSERT INTO inbox_message (conversation_id, channel_id, direction, kind, body, payload,
                    media_file, media_provider_id, media_mime_type, media_sha256, media_error,
                    provider_message_id, reply_to_provider_id, status, error_code, error_title, error_detail,
                    sender_kind, raw, send_attempts, created_at)
                SELECT {first_conversation} + c - 1, ({channel_ids})[1 + c % 3],
                       CASE WHEN m % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'text',
                       'Hi, about my ' || ({words})[1 + (c * 7 + m) % {len(WORDS)}]
                         || ' number ' || c || '-' || m || ' ' || ({words})[1 + (c + m * 3) % {len(WORDS)}],
                       '{{}}', '', '', '', '', '', 'wamid.' || c || '.' || m, '',
                       CASE WHEN m % 2 = 0 THEN 'received' ELSE 'read' END, '', '', '',
                       CASE WHEN m % 2 = 0 THEN 'contact' ELSE 'user' END, '{{}}', 0,
                       now() - (c || ' minutes')::interval
                         - ((({per_conversation} - m) * 7) || ' minutes')::interval
                FROM generate_series(1, {conversations}) c, generate_series(1, {per_conversation}) m
                """
            )
            label_ids = [label.id for label in labels]
            cursor.execute(
                f"""
                INSERT INTO inbox_conversation_labels (conversation_id, label_id)
                SELECT id, (ARRAY{label_ids})[1 + id % 10] FROM inbox_conversation WHERE id % 5 = 0
                """
            )
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a live table
        print(
            f"seeded {conversations:,} conversations and {conversations * per_conversation:,} messages "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return {
            "manager": manager,
            "agent": agents[0],
            "channel": channels[1].id,
            "department": departments[2].id,
            "label": labels[3].id,
            "assignee": agents[4].id,
            "conversation": first_conversation + 41,
        }


def seeded() -> dict:
    """The same ids `seed` returns, read back from a database a `--keep` run left."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from accounts.models import Department, User
    from channels_wa.models import Channel
    from inbox.models import Conversation, Label

    with schema_context(SLUG):
        first_conversation = Conversation.objects.order_by("id").values_list("id", flat=True).first()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics for indexes new migrations added
        return {
            "manager": User.objects.get(email="manager@inbox.test"),
            "agent": User.objects.get(email="agent0@inbox.test"),
            "channel": Channel.objects.get(name="Line 1").id,
            "department": Department.objects.get(name="Team 2").id,
            "label": Label.objects.get(name="label-3").id,
            "assignee": User.objects.get(email="agent4@inbox.test").id,
            "conversation": first_conversation + 41,
        }


SQL_TIMES: list[float] = []


def _sql_timer(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        SQL_TIMES[-1] += time.perf_counter() - started


def timed(client, url: str, samples: int) -> list[float]:
    """Latencies of GET url; the time spent waiting on PostgreSQL per request goes to SQL_TIMES."""
    from django.db import connection

    client.get(url)  # warm: the plan and the template are cached after the first call
    latencies = []
    with connection.execute_wrapper(_sql_timer):
        for _ in range(samples):
            SQL_TIMES.append(0.0)
            started = time.perf_counter()
            response = client.get(url)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
    return latencies


def selector_times(user, combos: list[str], samples: int) -> list[float]:
    from django.http import QueryDict
    from django_tenants.utils import schema_context

    from dashboard.selectors import conversation_page
    from dashboard.views_inbox import filters_from

    latencies = []
    with schema_context(SLUG):
        for combo in combos:
            filters = filters_from(QueryDict(combo))
            conversation_page(user=user, filters=filters)
            for _ in range(max(5, samples // 4)):
                started = time.perf_counter()
                conversation_page(user=user, filters=filters)
                latencies.append(time.perf_counter() - started)
    return latencies


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


def line(name: str, latencies: list[float], target_ms: float, *, with_sql: bool = True) -> bool:
    """One figure: the whole request in-process, and (sql) the part spent waiting on PostgreSQL (the
    latest SQL_TIMES entries are those of these requests)."""
    p50, p99 = percentiles(latencies)
    sql = SQL_TIMES[-len(latencies) :] if with_sql else []
    sql_text = "sql p50 {:5.1f} p99 {:5.1f}".format(*percentiles(sql)) if sql else ""
    verdict = "ok" if p99 < target_ms else "OVER"
    print(
        f"  {name:<48} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {sql_text:<24} "
        f"(target {target_ms:.0f}) {verdict}",
        flush=True,
    )
    return p99 < target_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="time the database a --keep run left")
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=5, reuse=args.reuse)
    migrate(env)
    import django

    django.setup()
    from django.test import Client

    from core.redis import get_redis

    get_redis().flushdb()
    ids = seeded() if args.reuse else seed(args.conversations, args.messages_per_conversation)
    results = []
    for who in ("manager", "agent"):
        client = Client(HTTP_HOST=HOST)
        response = client.post("/login/", {"username": ids[who].email, "password": "bench-password-1"})
        assert response.status_code == 302, "sign-in failed"
        print(f"{who}:", flush=True)
        combos = [
            f"view={view}&status={status}"
            for view in ("all", "mine", "unassigned")
            for status in ("open", "pending", "snoozed", "resolved", "")
        ]
        combos += [
            f"channel={ids['channel']}",
            f"department={ids['department']}",
            f"label={ids['label']}",
            f"assignee={ids['assignee']}",
            f"label={ids['label']}&channel={ids['channel']}&status=",
        ]
        first_pages = []
        for combo in combos:
            first_pages += timed(client, f"/inbox/rows?{combo}", max(5, args.samples // 4))
        results.append(line(f"list first page, {len(combos)} filter combinations", first_pages, 30))
        results.append(
            line(
                "  the same, selector only (SQL + ORM, no HTTP/template)",
                selector_times(ids[who], combos, args.samples),
                30,
                with_sql=False,
            )
        )
        first = client.get("/inbox/rows?view=all&status=open")
        results.append(
            line(
                "list next page",
                timed(client, f"/inbox/rows?cursor={first['X-Next-Cursor']}", args.samples),
                30,
            )
        )
        deep = first
        for _ in range(20):
            deep = client.get(f"/inbox/rows?cursor={deep['X-Next-Cursor']}")
        results.append(
            line(
                "list page 22", timed(client, f"/inbox/rows?cursor={deep['X-Next-Cursor']}", args.samples), 30
            )
        )
        conversation = ids["conversation"]
        results.append(
            line("thread page (newest)", timed(client, f"/inbox/c/{conversation}/thread", args.samples), 20)
        )
        html = client.get(f"/inbox/c/{conversation}/thread").content.decode()
        oldest = re.search(r'data-message-id="(\d+)"', html).group(1)
        results.append(
            line(
                "older messages page",
                timed(client, f"/inbox/c/{conversation}/thread?before={oldest}", args.samples),
                20,
            )
        )
        results.append(line("sidebar counts", timed(client, "/inbox/counts", args.samples), 20))
        searches = []
        for term, what in SEARCHES:
            latencies = timed(client, f"/inbox/rows?q={term}&status=", max(5, args.samples // 4))
            line(f"  search {what}: {term!r}", latencies, 150)
            searches += latencies
        results.append(line("search, all of the above", searches, 150))
    print(f"{sum(results)}/{len(results)} figures within target", flush=True)
    if not (args.keep or args.reuse):
        drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
