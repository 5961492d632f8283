"""The per-channel send pace: one schedule in Redis per number, shared by every process that sends on it
(inbox replies, API sends and campaign dispatchers), so together they stay under the provider's rate.

A sender reserves send times ("slots") one interval apart: the next slot is max(now, the end of the last
reservation). The WhatsApp Cloud API counts messages in any one-second window, so slots never bunch: a
channel that was idle starts at now, not with a saved-up burst. Unlike a token bucket that is polled, a
reserved slot is never lost while its sender waits, so the achieved rate stays at the channel's rate
(times a small headroom). After a throughput error (Meta 130429) the interval grows for a while."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from core.redis import get_redis

MIN_SLOWDOWN_FACTOR = 0.1

# KEYS[1] the schedule (when its last reserved slot ends); ARGV: interval (s), count, max wait (s). Redis'
# own clock, so process clocks do not matter. Returns {reserved, seconds from now to the first slot, end}.
_RESERVE_LUA = """
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local first = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
if first - now > max_wait then
  return {0, tostring(first - now), ''}
end
local after = string.format('%.6f', first + count * interval)
redis.call('SET', KEYS[1], after, 'PX', math.ceil((tonumber(after) - now) * 1000) + 1000)
return {1, tostring(first - now), after}
"""

# A sender late for its slots that still holds the end of the schedule (nobody reserved after it) moves
# them to now: nothing follows them, so nothing can bunch. ARGV: the end it reserved, interval, count.
_REBASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return ''
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local after = string.format('%.6f', now + tonumber(ARGV[3]) * tonumber(ARGV[2]))
redis.call('SET', KEYS[1], after, 'PX', math.ceil((tonumber(after) - now) * 1000) + 1000)
return after
"""


def _key(channel) -> str:
    return f"send:{channel.provider}:{channel.external_id}"


def send_rate_per_s(*, channel) -> float:
    """The rate the schedule runs at now: the channel's rate, the headroom, any slowdown in force."""
    factor = get_redis().get(f"send-slowdown:{_key(channel)}")
    slowdown = float(factor) if factor else 1.0
    rate = channel.rate_per_s * settings.CHANNEL_RATE_HEADROOM
    if channel.rate_per_s >= 2:  # at least one send a second to spare for jitter, however low the rate
        rate = min(rate, channel.rate_per_s - 1)
    return max(0.1, rate * slowdown)


# A sender that wakes later than this after its slot (a busy CPU, a long pause) gives the rest of its
# slots up and reserves new ones: catching up would put more than the rate into one second. Slots run at
# rate x headroom (0.98), so sends up to about 20 ms late still fit in any one second; half of that is
# left for the network and the provider's own clock.
LATE_S = 0.010


@dataclass(frozen=True)
class Slots:
    """`count` send times, `interval_s` apart, the first at `first_at` (time.monotonic()); `end` is the
    schedule's end as this reservation left it."""

    first_at: float
    interval_s: float
    count: int
    end: str = ""

    def at(self, index: int) -> float:
        return self.first_at + index * self.interval_s


class SendPacer:
    """Paces `count` sends on a channel: `wait()` before each one returns when it may go."""

    def __init__(self, *, channel, count: int, max_wait_s: float = 30.0):
        self.channel, self.remaining, self.max_wait_s = channel, count, max_wait_s
        self.slots: Slots | None = None
        self.index = 0

    def wait(self) -> bool:
        """Block until the next send may go; False when that would take longer than max_wait_s."""
        if self.remaining <= 0:
            raise ValueError("every reserved send was already made")
        while True:
            if self.slots is None or self.index >= self.slots.count:
                self.slots = send_slots_reserve(
                    channel=self.channel, count=self.remaining, max_wait_s=self.max_wait_s
                )
                self.index = 0
                if self.slots is None:
                    return False
            delay = self.slots.at(self.index) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            late_s = time.monotonic() - self.slots.at(self.index)
            if late_s > LATE_S:
                # Fell behind: the slots already missed are lost (using them now would be a burst).
                missed = int((late_s - LATE_S) / self.slots.interval_s) + 1
                if self.index + missed < self.slots.count:
                    self.index += missed
                    continue
                # Every slot we hold has passed: send now only if nobody reserved after us, else reserve.
                self.slots = _slots_rebase(channel=self.channel, slots=self.slots, remaining=self.remaining)
                self.index = 0
                if self.slots is None:
                    continue
            self.index += 1
            self.remaining -= 1
            return True


def send_slots_reserve(*, channel, count: int = 1, max_wait_s: float = 30.0) -> Slots | None:
    """Reserve the channel's next `count` send times; None when the first is more than max_wait_s away.
    Each message must go out no earlier than its slot, and soon after it (see `SendPacer`)."""
    redis = get_redis()
    interval_s = 1.0 / send_rate_per_s(channel=channel)
    script = redis.register_script(_RESERVE_LUA)
    started = time.monotonic()
    reserved, delay, end = script(keys=[f"pace:{_key(channel)}"], args=[interval_s, count, max_wait_s])
    if not int(reserved):
        return None
    return Slots(first_at=started + float(delay), interval_s=interval_s, count=count, end=end.decode())


def _slots_rebase(*, channel, slots: Slots, remaining: int) -> Slots | None:
    script = get_redis().register_script(_REBASE_LUA)
    started = time.monotonic()
    end = script(keys=[f"pace:{_key(channel)}"], args=[slots.end, slots.interval_s, remaining])
    if not end:
        return None
    return Slots(first_at=started, interval_s=slots.interval_s, count=remaining, end=end.decode())


def send_slot_wait(*, channel, max_wait_s: float = 30.0) -> bool:
    """Block until this channel may send one message; False when that would take longer than max_wait_s."""
    return SendPacer(channel=channel, count=1, max_wait_s=max_wait_s).wait()


def send_rate_slow_down(*, channel, factor: float = 0.5, for_s: float = 15.0) -> float:
    """The provider said we are too fast: halve the pace (again, if already slowed) for a while."""
    redis = get_redis()
    key = f"send-slowdown:{_key(channel)}"
    current = redis.get(key)
    slowed = max(MIN_SLOWDOWN_FACTOR, (float(current) if current else 1.0) * factor)
    redis.set(key, str(slowed), px=int(for_s * 1000))
    return slowed
