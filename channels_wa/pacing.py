"""The per-channel send pace: one Redis token bucket per number, shared by every process that sends on it
(inbox replies, API sends and campaign dispatchers), so together they stay under the provider's rate.

The bucket holds a single token (no bursts): the WhatsApp Cloud API counts messages in any one-second
window, so a full bucket emptied at once would overshoot it. It refills at the channel's rate times a
small headroom; after a throughput error (Meta 130429) it runs slower for a while."""

from __future__ import annotations

import time

from django.conf import settings

from core.ratelimit import TokenBucket
from core.redis import get_redis

MIN_SLOWDOWN_FACTOR = 0.1


def _key(channel) -> str:
    return f"send:{channel.provider}:{channel.external_id}"


def send_rate_per_s(*, channel) -> float:
    """The rate the bucket refills at now: the channel's rate, the headroom, any slowdown in force."""
    factor = get_redis().get(f"send-slowdown:{_key(channel)}")
    slowdown = float(factor) if factor else 1.0
    return max(0.1, channel.rate_per_s * settings.CHANNEL_RATE_HEADROOM * slowdown)


def send_slot_wait(*, channel, max_wait_s: float = 30.0) -> bool:
    """Block until this channel may send one message; False when that would take longer than max_wait_s."""
    deadline = time.monotonic() + max_wait_s
    while True:
        bucket = TokenBucket(_key(channel), capacity=1, rate_per_s=send_rate_per_s(channel=channel))
        decision = bucket.take()
        if decision.is_allowed:
            return True
        wait_s = max(decision.retry_after_s, 0.001)
        if time.monotonic() + wait_s > deadline:
            return False
        time.sleep(wait_s)


def send_rate_slow_down(*, channel, factor: float = 0.5, for_s: float = 15.0) -> float:
    """The provider said we are too fast: halve the pace (again, if already slowed) for a while."""
    redis = get_redis()
    key = f"send-slowdown:{_key(channel)}"
    current = redis.get(key)
    slowed = max(MIN_SLOWDOWN_FACTOR, (float(current) if current else 1.0) * factor)
    redis.set(key, str(slowed), px=int(for_s * 1000))
    return slowed
