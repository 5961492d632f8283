"""Pacing keeps a QR number safe: gaps between contacts, per-contact spacing, typing time, daily cap
with warm-up, quiet hours; and the estimate a campaign shows before it starts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from channels_wa.providers.qr_session.pacing import (
    PacingPolicy,
    PacingState,
    daily_cap_on,
    pacing_estimate,
    quiet_until,
    typing_duration_s,
)
from core.redis import get_redis
from tests.helpers import unique

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def state():
    state = PacingState(key=unique("pacing-"))
    yield state
    redis = get_redis()
    for key in redis.scan_iter(f"qr:pacing:{state.key}:*"):
        redis.delete(key)


def test_gap_between_different_contacts_is_random_between_4_and_10_s(state):
    policy, rng = PacingPolicy(warmup_started_on=date(2026, 1, 1)), random.Random(3)
    state.record_send(policy, to="+1555000001", at=NOW)
    waits = [
        state.plan(policy, to="+1555000002", text_length=10, now=NOW, rng=rng).wait_s for _ in range(200)
    ]
    assert 4.0 <= min(waits) < 5.0 and 9.0 < max(waits) <= 10.0
    assert len({round(w, 3) for w in waits}) > 150  # randomised, not a fixed beat
    later = NOW + timedelta(seconds=11)
    assert state.plan(policy, to="+1555000002", text_length=10, now=later, rng=rng).wait_s == 0


def test_same_contact_is_spaced_by_its_own_rule(state):
    policy = PacingPolicy(per_contact_gap_s=3.0, warmup_started_on=date(2026, 1, 1))
    state.record_send(policy, to="+1555000001", at=NOW)
    plan = state.plan(policy, to="+1555000001", text_length=10, now=NOW + timedelta(seconds=1))
    assert plan.wait_s == pytest.approx(2.0, abs=0.01)


def test_typing_time_grows_with_length_within_bounds():
    policy = PacingPolicy()
    assert typing_duration_s(policy, 5) == policy.typing_min_s
    assert typing_duration_s(policy, 100) == pytest.approx(4.0)
    assert typing_duration_s(policy, 100) < typing_duration_s(policy, 150)
    assert typing_duration_s(policy, 5000) == policy.typing_max_s


def test_warm_up_schedule_then_full_cap():
    start = date(2026, 3, 1)
    policy = PacingPolicy(daily_cap=250, warmup_started_on=start)
    caps = [daily_cap_on(policy, start + timedelta(days=d)) for d in (0, 2, 3, 6, 7, 13, 14, 20, 21, 60)]
    assert caps == [20, 20, 50, 50, 100, 100, 150, 150, 250, 250]
    assert daily_cap_on(PacingPolicy(), start) == 20  # never ready yet: treated as a new number
    assert daily_cap_on(PacingPolicy(daily_cap=30, warmup_started_on=start), start + timedelta(days=10)) == 30


def test_daily_cap_defers_to_tomorrow(state):
    policy = PacingPolicy(daily_cap=3, warmup_started_on=date(2025, 1, 1), timezone="Europe/Berlin")
    for index in range(3):
        state.record_send(policy, to=f"+155500000{index}", at=NOW)
    plan = state.plan(policy, to="+1555000009", text_length=10, now=NOW + timedelta(minutes=1))
    assert plan.is_deferred and plan.reason == "daily_cap:3"
    assert plan.deferred_until == datetime(2026, 3, 3, 0, 0, tzinfo=policy.tz)  # local midnight


def test_quiet_hours_defer_until_morning(state):
    policy = PacingPolicy(
        quiet_start=time(21, 0),
        quiet_end=time(8, 0),
        timezone="America/New_York",
        warmup_started_on=date(2025, 1, 1),
    )
    evening = datetime(2026, 3, 2, 22, 30, tzinfo=policy.tz)
    plan = state.plan(policy, to="+1555000001", text_length=10, now=evening)
    assert plan.is_deferred and plan.reason == "quiet_hours"
    assert plan.deferred_until == datetime(2026, 3, 3, 8, 0, tzinfo=policy.tz)
    assert quiet_until(policy, datetime(2026, 3, 3, 7, 59, tzinfo=policy.tz)) == plan.deferred_until
    assert quiet_until(policy, datetime(2026, 3, 3, 8, 0, tzinfo=policy.tz)) is None
    assert quiet_until(policy, datetime(2026, 3, 2, 20, 59, tzinfo=policy.tz)) is None


def test_estimate_for_a_campaign_respects_caps_and_quiet_hours():
    policy = PacingPolicy(daily_cap=250, warmup_started_on=date(2025, 1, 1))
    small = pacing_estimate(policy, recipients=10, average_text_length=100, start=NOW)
    assert small.per_message_s == pytest.approx(7.0 + 4.0)
    assert small.duration_s == pytest.approx(110.0) and small.days == 1
    # A new number (warm-up day 1: 20 a day) needs three days for 50 people.
    new = PacingPolicy(daily_cap=250, warmup_started_on=NOW.date())
    estimate = pacing_estimate(new, recipients=50, average_text_length=100, start=NOW)
    assert estimate.days == 3 and estimate.finishes_at.date() == date(2026, 3, 4)
    # Quiet hours from 18:00: a morning start of 500 at 250/day takes two days of sending.
    quiet = PacingPolicy(
        daily_cap=250, warmup_started_on=date(2025, 1, 1), quiet_start=time(18), quiet_end=time(9)
    )
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    estimate = pacing_estimate(quiet, recipients=500, average_text_length=100, start=morning)
    assert estimate.days == 2 and time(9) <= estimate.finishes_at.time() < time(18)


def test_estimate_counts_what_was_already_sent_today():
    policy = PacingPolicy(daily_cap=100, warmup_started_on=date(2025, 1, 1))
    fresh = pacing_estimate(policy, recipients=60, average_text_length=20, start=NOW)
    busy = pacing_estimate(policy, recipients=60, average_text_length=20, start=NOW, sent_today=80)
    assert fresh.days == 1 and busy.days == 2


def test_campaign_estimate_for_a_qr_channel_counts_todays_sends(qr_channel):
    """What the campaign wizard shows: the session's own cap and warm-up, less what went out today."""
    from django_tenants.utils import schema_context

    from channels_wa.providers.qr_session.services import pacing_key, qr_pacing_estimate

    with schema_context("alpha"):
        session = qr_channel.qr_session
        session.warmup_started_on, session.daily_cap = date(2025, 1, 1), 100
        session.save()
        fresh = qr_pacing_estimate(channel=qr_channel, recipients=60, average_text_length=50, start=NOW)
        state = PacingState(key=pacing_key(qr_channel.id))
        policy = PacingPolicy.for_session(session)
        try:
            for n in range(80):
                state.record_send(policy, to=f"+1555000{n:04d}", at=NOW)
            busy = qr_pacing_estimate(channel=qr_channel, recipients=60, average_text_length=50, start=NOW)
        finally:
            for key in get_redis().scan_iter(f"qr:pacing:{state.key}:*"):
                get_redis().delete(key)
    assert fresh.days == 1 and busy.days == 2
