"""Usage counters against the plan's limits, kept in Redis (shared by every process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection

from core.errors import LimitExceeded
from core.redis import get_redis


def usage_message_consume(*, messages_per_day: int | None, count: int = 1) -> None:
    """Count `count` outgoing messages for today (UTC); refuse them all when the plan's daily quota
    cannot take them."""
    if messages_per_day is None or count <= 0:
        return
    now = datetime.now(UTC)
    key = f"usage:messages:{connection.schema_name}:{now:%Y%m%d}"
    redis = get_redis()
    used = redis.incrby(key, count)
    if used == count:
        redis.expire(key, 2 * 24 * 3600)
    if used > messages_per_day:
        redis.decrby(key, count)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        raise LimitExceeded(
            f"The plan's quota of {messages_per_day} messages per day is used up; it resets at 00:00 UTC.",
            code="quota_exceeded",
            details={
                "messages_per_day": messages_per_day,
                "retry_after_s": int((midnight - now).total_seconds()),
            },
        )
