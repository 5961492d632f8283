"""Reconnects back off exponentially with jitter and a cap: never a tight loop, never a storm."""

from __future__ import annotations

import random

from channels_wa.providers.qr_session.backoff import Backoff, ReconnectGate


def test_delays_grow_and_stop_at_the_cap():
    backoff, rng = Backoff(base_s=2, cap_s=300), random.Random(7)
    ceilings = [min(300, 2 * 2**n) for n in range(12)]
    for attempt, ceiling in enumerate(ceilings):
        for _ in range(50):
            delay = backoff.delay_s(attempt, rng)
            assert ceiling / 2 <= delay <= ceiling
    assert backoff.delay_s(10_000, rng) <= 300


def test_never_zero_so_never_a_tight_loop():
    backoff = Backoff(base_s=2, cap_s=300)
    assert min(backoff.delay_s(0, random.Random(seed)) for seed in range(500)) >= 1.0


def test_a_mass_disconnect_does_not_reconnect_in_one_storm():
    """1,000 sessions dropped by the same blip while the network stays down for 120 s: each backs off,
    and the runner's gate lets at most 5 attempts a second through."""
    backoff, gate, rng = Backoff(base_s=2, cap_s=300), ReconnectGate(rate_per_s=5), random.Random(1)
    pending = sorted((backoff.delay_s(0, rng), index, 0) for index in range(1000))
    attempts_at: list[float] = []
    per_session = [0] * 1000
    while pending:
        due, index, attempt = pending.pop(0)
        if due >= 120:
            continue
        wait = gate.reserve(due)
        attempts_at.append(due + wait)
        per_session[index] += 1
        pending.append((due + wait + backoff.delay_s(attempt + 1, rng), index, attempt + 1))
        pending.sort()
    per_second: dict[int, int] = {}
    for moment in attempts_at:
        per_second[int(moment)] = per_second.get(int(moment), 0) + 1
    assert max(per_second.values()) <= 5
    assert max(per_session) <= 7  # backoff: a handful of tries each in two minutes, not hundreds
