"""Which runner hosts which QR session: leases in PostgreSQL (public schema), renewed by heartbeats.

A session runs only in the runner whose lease on it is unexpired. A runner stops a session the moment
its lease is not renewed, and stops all of them once its last successful renewal is older than the
TTL less one heartbeat, so it is always down before another runner may take the lease (which needs
`expires_at < now()` by the database's own clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context

ROUTE_KIND = "qr_session"


@dataclass(frozen=True)
class HeldSession:
    route_id: int
    schema_name: str
    channel_id: int
    external_id: str


def _execute(sql: str, params: list) -> list[tuple]:
    with schema_context(get_public_schema_name()), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def runner_heartbeat(*, runner_id: str, hostname: str, pid: int) -> None:
    _execute(
        "INSERT INTO tenants_qrrunner (runner_id, hostname, pid, started_at, heartbeat_at)"
        " VALUES (%s, %s, %s, now(), now())"
        " ON CONFLICT (runner_id) DO UPDATE SET heartbeat_at = now()",
        [runner_id, hostname, pid],
    )


def runner_forget(*, runner_id: str) -> None:
    """A clean shutdown: give every lease back at once so others need not wait for it to expire."""
    _execute(
        "UPDATE tenants_qrsessionlease SET runner_id = '', expires_at = NULL WHERE runner_id = %s",
        [runner_id],
    )
    _execute("DELETE FROM tenants_qrrunner WHERE runner_id = %s", [runner_id])


def leases_sync() -> None:
    """Every QR-session channel has a lease row (new channels appear, deleted ones cascade away)."""
    _execute(
        "INSERT INTO tenants_qrsessionlease (route_id, runner_id) SELECT r.id, '' FROM tenants_channelroute r"
        " WHERE r.provider = %s ON CONFLICT (route_id) DO NOTHING",
        [ROUTE_KIND],
    )


def leases_renew(*, runner_id: str, ttl_s: float) -> set[int]:
    rows = _execute(
        "UPDATE tenants_qrsessionlease SET expires_at = now() + make_interval(secs => %s)"
        " WHERE runner_id = %s AND expires_at > now() RETURNING route_id",
        [ttl_s, runner_id],
    )
    return {row[0] for row in rows}


def fair_share(*, ttl_s: float) -> int:
    """Sessions per live runner, rounded up."""
    (total, runners) = _execute(
        "SELECT (SELECT count(*) FROM tenants_qrsessionlease),"
        " (SELECT count(*) FROM tenants_qrrunner WHERE heartbeat_at > now() - make_interval(secs => %s))",
        [ttl_s],
    )[0]
    return math.ceil(total / max(1, runners))


def leases_acquire(*, runner_id: str, ttl_s: float, limit: int) -> set[int]:
    """Take up to `limit` leases that are free or expired."""
    if limit <= 0:
        return set()
    rows = _execute(
        "UPDATE tenants_qrsessionlease SET runner_id = %s, expires_at = now() + make_interval(secs => %s),"
        " acquired_at = now() WHERE id IN (SELECT id FROM tenants_qrsessionlease"
        " WHERE runner_id = '' OR expires_at IS NULL OR expires_at < now()"
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING route_id",
        [runner_id, ttl_s, limit],
    )
    return {row[0] for row in rows}


def leases_release(*, runner_id: str, route_ids: set[int]) -> None:
    if route_ids:
        _execute(
            "UPDATE tenants_qrsessionlease SET runner_id = '', expires_at = NULL"
            " WHERE runner_id = %s AND route_id = ANY(%s)",
            [runner_id, list(route_ids)],
        )


def sessions_for(route_ids: set[int]) -> list[HeldSession]:
    if not route_ids:
        return []
    rows = _execute(
        "SELECT r.id, c.schema_name, r.channel_id, r.external_id FROM tenants_channelroute r"
        " JOIN tenants_company c ON c.id = r.company_id WHERE r.id = ANY(%s) ORDER BY r.id",
        [list(route_ids)],
    )
    return [HeldSession(*row) for row in rows]


def session_holder(*, schema_name: str, channel_id: int) -> str | None:
    """The runner currently hosting a channel's session, if any holds an unexpired lease."""
    rows = _execute(
        "SELECT l.runner_id FROM tenants_qrsessionlease l JOIN tenants_channelroute r ON r.id = l.route_id"
        " JOIN tenants_company c ON c.id = r.company_id WHERE c.schema_name = %s AND r.channel_id = %s"
        " AND r.provider = %s AND l.runner_id <> '' AND l.expires_at > now()",
        [schema_name, channel_id, ROUTE_KIND],
    )
    return rows[0][0] if rows else None
