"""One Redis client per process for counters, locks and rate limits."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    """The process's client for the Redis at `url` (the broker may be another server than REDIS_URL)."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)
