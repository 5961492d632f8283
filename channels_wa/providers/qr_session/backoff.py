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
