"""Keeping a number safe: how long to wait before each send on a QR session, and how long a batch will
take. The rules (WhatsApp bans numbers that behave like bots):

- a randomised 4–10 s gap before a message to a different contact than the previous one;
- per-contact spacing: two messages to the same contact are at least `per_contact_gap_s` apart;
- a typing indicator before each send, for a time proportional to the message's length;
- a daily cap, lower for new numbers (warm-up schedule by days since the number was first ready);
- no sends in quiet hours (in the session's timezone).

The counters live in Redis, so they hold across runner restarts and failover.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.redis import get_redis

# (through day N since warm-up started, cap that day); afterwards the policy's daily_cap applies.
WARMUP_SCHEDULE: tuple[tuple[int, int], ...] = ((3, 20), (7, 50), (14, 100), (21, 150))


@dataclass(frozen=True)
class PacingPolicy:
    min_gap_s: float = 4.0
    max_gap_s: float = 10.0
    per_contact_gap_s: float = 3.0
    typing_s_per_char: float = 0.04
    typing_min_s: float = 1.0
    typing_max_s: float = 8.0
    daily_cap: int = 250
    warmup: tuple[tuple[int, int], ...] = WARMUP_SCHEDULE
    warmup_started_on: date | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "UTC"

    @classmethod
    def for_session(cls, session) -> PacingPolicy:
        return cls(
            daily_cap=session.daily_cap,
            warmup_started_on=session.warmup_started_on,
            quiet_start=session.quiet_hours_start,
            quiet_end=session.quiet_hours_end,
            timezone=session.timezone or "UTC",
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def typing_duration_s(policy: PacingPolicy, text_length: int) -> float:
    return min(policy.typing_max_s, max(policy.typing_min_s, text_length * policy.typing_s_per_char))


def daily_cap_on(policy: PacingPolicy, day: date) -> int:
    """The cap for `day`: the warm-up step it falls in, or the full cap for a warmed-up number."""
    if policy.warmup_started_on is None:
        return policy.warmup[0][1] if policy.warmup else policy.daily_cap  # not ready yet: a new number
    age_days = (day - policy.warmup_started_on).days + 1
    for through_day, cap in policy.warmup:
        if age_days <= through_day:
            return min(cap, policy.daily_cap)
    return policy.daily_cap


def quiet_until(policy: PacingPolicy, now: datetime) -> datetime | None:
    """When quiet hours end, if `now` falls inside them; None otherwise."""
    if policy.quiet_start is None or policy.quiet_end is None or policy.quiet_start == policy.quiet_end:
        return None
    local = now.astimezone(policy.tz)
    clock = local.time()
    start, end = policy.quiet_start, policy.quiet_end
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=policy.tz)


def next_local_midnight(policy: PacingPolicy, now: datetime) -> datetime:
    local = now.astimezone(policy.tz)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=policy.tz)


@dataclass(frozen=True)
class SendPlan:
    """What to do before handing a message to WhatsApp: wait, then type, then send."""

    wait_s: float = 0.0
    typing_s: float = 0.0
    deferred_until: datetime | None = None  # not today / not now: quiet hours or daily cap
    reason: str = ""

    @property
    def is_deferred(self) -> bool:
        return self.deferred_until is not None


@dataclass
class PacingState:
    """A session's pacing counters in Redis (`key` is the session's own, e.g. `<schema>:<channel id>`)."""

    key: str
    redis: object = field(default_factory=get_redis)

    def _k(self, suffix: str) -> str:
        return f"qr:pacing:{self.key}:{suffix}"

    def sent_on(self, day: date) -> int:
        return int(self.redis.get(self._k(f"count:{day.isoformat()}")) or 0)

    def plan(self, policy: PacingPolicy, *, to: str, text_length: int, now: datetime, rng=random) -> SendPlan:
        until = quiet_until(policy, now)
        if until is not None:
            return SendPlan(deferred_until=until, reason="quiet_hours")
        today = now.astimezone(policy.tz).date()
        cap = daily_cap_on(policy, today)
        if self.sent_on(today) >= cap:
            return SendPlan(deferred_until=next_local_midnight(policy, now), reason=f"daily_cap:{cap}")
        last_to, last_at, contact_at = self.redis.mget(
            self._k("last_to"), self._k("last_at"), self._k(f"contact:{to}")
        )
        stamp = now.timestamp()
        wait_s = 0.0
        if last_at is not None and (last_to or b"").decode() != to:
            gap_s = rng.uniform(policy.min_gap_s, policy.max_gap_s)
            wait_s = max(wait_s, float(last_at) + gap_s - stamp)
        if contact_at is not None:
            wait_s = max(wait_s, float(contact_at) + policy.per_contact_gap_s - stamp)
        return SendPlan(wait_s=max(0.0, wait_s), typing_s=typing_duration_s(policy, text_length))

    def record_send(self, policy: PacingPolicy, *, to: str, at: datetime) -> None:
        day = at.astimezone(policy.tz).date()
        stamp = str(at.timestamp())
        pipe = self.redis.pipeline()
        pipe.set(self._k("last_to"), to, ex=86400)
        pipe.set(self._k("last_at"), stamp, ex=86400)
        pipe.set(self._k(f"contact:{to}"), stamp, ex=86400)
        pipe.incr(self._k(f"count:{day.isoformat()}"))
        pipe.expire(self._k(f"count:{day.isoformat()}"), 3 * 86400)
        pipe.execute()


@dataclass(frozen=True)
class PacingEstimate:
    recipients: int
    duration_s: float
    finishes_at: datetime
    days: int
    per_message_s: float


def pacing_estimate(
    policy: PacingPolicy, *, recipients: int, average_text_length: int, start: datetime, sent_today: int = 0
) -> PacingEstimate:
    """How long a campaign of `recipients` distinct contacts takes on this session: every message costs
    the average gap plus typing, each day stops at its cap, and quiet hours are skipped."""
    per_message_s = (policy.min_gap_s + policy.max_gap_s) / 2 + typing_duration_s(policy, average_text_length)
    remaining, clock, days = recipients, start, 0
    used_today = sent_today
    while remaining > 0:
        days += 1
        if days > 3660:
            raise ValueError("the daily cap is zero: this campaign would never finish")
        until = quiet_until(policy, clock)
        if until is not None:
            clock = until
        local_day = clock.astimezone(policy.tz).date()
        midnight = next_local_midnight(policy, clock)
        # Sending time left today: up to midnight, less the quiet hours that start before it.
        day_end = midnight
        if policy.quiet_start is not None and policy.quiet_end is not None:
            quiet_start_at = datetime.combine(local_day, policy.quiet_start, tzinfo=policy.tz)
            if clock < quiet_start_at < midnight:
                day_end = quiet_start_at
        by_time = math.floor((day_end - clock).total_seconds() / per_message_s)
        by_cap = max(0, daily_cap_on(policy, local_day) - used_today)
        batch = min(remaining, by_time, by_cap)
        remaining -= batch
        if remaining == 0:
            clock = clock + timedelta(seconds=batch * per_message_s)
            break
        clock, used_today = midnight, 0
    return PacingEstimate(
        recipients=recipients,
        duration_s=(clock - start).total_seconds(),
        finishes_at=clock,
        days=days,
        per_message_s=per_message_s,
    )
