"""The shared send pace: reserved slots one interval apart across threads (and so processes: the schedule is
in Redis), never a burst after an idle spell or after a sender fell behind, and a refusal past max_wait."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from channels_wa.pacing import LATE_S, SendPacer, send_rate_per_s, send_slot_wait, send_slots_reserve
from tests.helpers import unique


def channel(rate_per_s: float):
    return SimpleNamespace(provider="sandbox", external_id=unique("pace-"), rate_per_s=rate_per_s)


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_several_senders_share_one_schedule_at_the_channel_rate(settings):
    settings.CHANNEL_RATE_HEADROOM = 0.98
    line = channel(50)
    sent: list[float] = []
    lock = threading.Lock()

    def sender(count: int) -> None:
        pacer = SendPacer(channel=line, count=count)
        for _ in range(count):
            assert pacer.wait()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=sender, args=(25,)) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(sent) - started
    assert len(sent) == 100
    assert busiest_second(sent) <= 50
    # 100 sends at 49/s take about two seconds: the schedule is kept, not lost to polling.
    assert 100 / 49 - 0.1 <= elapsed + 1 / 49 <= 100 / 49 + 0.5


def test_an_idle_channel_starts_now_without_a_saved_up_burst():
    line = channel(10)
    first = send_slots_reserve(channel=line, count=1)
    assert first is not None and first.at(0) - time.monotonic() < 0.05
    time.sleep(0.5)  # idle: nothing is saved up for later
    slots = send_slots_reserve(channel=line, count=5)
    assert slots.at(0) - time.monotonic() < 0.05
    assert slots.interval_s == pytest.approx(1 / send_rate_per_s(channel=line))
    # The next reservation starts after these five.
    after = send_slots_reserve(channel=line, count=1)
    assert after.at(0) == pytest.approx(slots.at(5), abs=0.01)


def test_a_sender_that_fell_behind_reserves_again_instead_of_catching_up():
    line = channel(100)
    pacer = SendPacer(channel=line, count=3)
    assert pacer.wait()
    time.sleep(LATE_S + 0.05)  # the second slot has long passed
    before = pacer.slots
    assert pacer.wait()
    assert pacer.slots is not before  # new slots, after everyone else's
    assert time.monotonic() - pacer.slots.at(0) <= LATE_S + 0.005


def test_a_sender_late_by_a_few_slots_skips_only_those():
    line = channel(100)
    pacer = SendPacer(channel=line, count=10)
    assert pacer.wait()
    reservation = pacer.slots
    time.sleep(0.03)  # about three slots go by
    assert pacer.wait()
    assert pacer.slots is reservation and pacer.index > 2  # the missed ones are skipped, not sent late
    sent_at = time.monotonic()
    assert sent_at - reservation.at(pacer.index - 1) <= LATE_S + 0.005


def test_a_slot_too_far_away_is_refused(settings):
    line = channel(1)
    assert send_slots_reserve(channel=line, count=10, max_wait_s=5) is not None  # ten seconds booked
    assert send_slots_reserve(channel=line, count=1, max_wait_s=5) is None
    assert send_slot_wait(channel=line, max_wait_s=0.5) is False
