"""Reconnect pauses: exponential, capped, with full jitter, so a thousand sessions dropped by the same
network blip come back spread out instead of in one storm."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 2.0
    cap_s: float = 300.0
    # A session that stayed up this long counts as healthy again: its next drop starts from the base.
    healthy_after_s: float = 60.0

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Pause before reconnect number `attempt` (0 = first): uniform in [ceiling/2, ceiling], where the
        ceiling doubles per attempt up to the cap. Never zero, so never a tight loop."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(attempt, 32)))
        return (rng or random).uniform(ceiling / 2, ceiling)


class ReconnectGate:
    """At most `rate_per_s` connection attempts per second in one runner, whatever the backoff says:
    when a network blip drops every session at once, they come back a few at a time."""

    def __init__(self, rate_per_s: float = 5.0):
        self.interval_s = 1.0 / rate_per_s
        self.next_free = 0.0

    def reserve(self, now: float) -> float:
        """Book the next free slot at or after `now`; returns how long to wait for it."""
        slot = max(now, self.next_free)
        self.next_free = slot + self.interval_s
        return slot - now
