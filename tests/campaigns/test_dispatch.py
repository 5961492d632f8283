"""Dispatch against the sandbox with real workers: pacing, at-most-once under pause/resume, two workers
and a killed worker, throughput errors, permanent errors, the auto-stop and quiet hours."""

from __future__ import annotations

import datetime as dt
import signal

import httpx
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.dispatch import campaigns_tick
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_create, campaign_pause, campaign_resume, campaign_start
from inbox.models import Message
from tests.campaigns.conftest import make_contacts, wait_for

VARIABLES = [
    {"source": "field", "key": "first_name", "fallback": "there"},
    {"source": "static", "key": "https://shop.example.com/sale"},
]


def new_campaign(channel, tag: str, **fields) -> Campaign:
    options = {
        "audience": {"tags": [tag]},
        "template_name": "spring_sale",
        "template_language": "en_US",
        "template_variables": VARIABLES,
        "is_quiet_hours_enabled": False,
        **fields,
    }
    with schema_context("alpha"):
        return campaign_create(name=f"Sale {tag}", channel=channel, **options)


def refreshed(campaign: Campaign) -> Campaign:
    with schema_context("alpha"):
        campaign.refresh_from_db()
    return campaign


def statuses(campaign: Campaign) -> dict[str, int]:
    with schema_context("alpha"):
        rows = Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)
        counts: dict[str, int] = {}
        for status in rows:
            counts[status] = counts.get(status, 0) + 1
        return counts


def finished(campaign: Campaign, status: str = "completed"):
    def check():
        current = refreshed(campaign)
        if current.status == "stopped" and status != "stopped":
            with schema_context("alpha"):
                failures = list(
                    Recipient.objects.filter(campaign=campaign, status="failed").values_list(
                        "error_code", "error_title"
                    )[:3]
                )
            pytest.fail(f"the campaign stopped itself: {current.stop_reason} {failures}")
        return current.status == status

    return check


@pytest.mark.parametrize("wired", [20], indirect=True)
def test_pacing_holds_the_channel_rate_with_no_throughput_errors(wired):
    box, tag = wired
    make_contacts(60, tag=tag)
    campaign = new_campaign(box.channel, tag)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(finished(campaign), "the campaign to complete", timeout_s=30)

    sent = box.sent()
    assert len(sent) == 60 and set(box.sent_per_customer().values()) == {1}
    times = sorted(m["timestamp"] for m in sent)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 20, f"{busiest} messages in one second on a 20/s channel"
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert 12 <= achieved <= 20.5
    with schema_context("alpha"):
        # Not one 130429: every recipient went out on its first attempt.
        assert set(Recipient.objects.filter(campaign=campaign).values_list("attempts", flat=True)) == {1}
        assert statuses(campaign) == {"sent": 60}
        # Each message carries its own recipient's name (recipient rows are not created in contact order).
        recipient = Recipient.objects.select_related("contact").filter(campaign=campaign).earliest("id")
        message = Message.objects.get(pk=recipient.message_id)
        assert message.payload["body_params"][0] == recipient.contact.name.split()[0]  # first_name
        assert "/l/" in message.payload["body_params"][1]  # the link was shortened for this recipient


@pytest.mark.parametrize("wired", [40], indirect=True)
def test_throughput_errors_slow_down_and_retry_without_double_sends(wired):
    from campaigns.models import Recipient
    from channels_wa.models import Channel

    box, tag = wired
    # The sandbox allows 4/s while the channel believes 40/s: Meta answers 130429.
    httpx.put(
        f"{box.sandbox.base_url}/_sandbox/numbers/{box.number_id}", json={"throughput_per_s": 4}
    ).raise_for_status()
    make_contacts(20, tag=tag)
    campaign = new_campaign(box.channel, tag, auto_stop_sample=1000)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(finished(campaign), "the campaign to complete despite 130429", timeout_s=40)
    assert set(box.sent_per_customer().values()) == {1} and len(box.sent()) == 20
    with schema_context("alpha"):
        attempts = list(Recipient.objects.filter(campaign=campaign).values_list("attempts", flat=True))
        assert max(attempts) > 1  # some were refused with 130429 and retried
        assert statuses(campaign) == {"sent": 20}
        from channels_wa.pacing import send_rate_per_s

        channel = Channel.objects.get(pk=box.channel.pk)
        assert send_rate_per_s(channel=channel) < 40 * 0.97  # the bucket slowed down


@pytest.mark.parametrize("wired", [30], indirect=True)
def test_pause_and_resume_never_send_a_recipient_twice(wired):
    box, tag = wired
    make_contacts(45, tag=tag)
    campaign = new_campaign(box.channel, tag)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(lambda: len(box.sent()) >= 10, "some sends")
    with schema_context("alpha"):
        campaign_pause(campaign=refreshed(campaign))
    import time

    time.sleep(0.5)
    at_pause = len(box.sent())
    time.sleep(1.0)
    assert len(box.sent()) == at_pause < 45  # nothing goes out while paused
    assert refreshed(campaign).status == "paused"
    with schema_context("alpha"):
        campaign_resume(campaign=refreshed(campaign))
    wait_for(finished(campaign), "the resumed campaign to complete")
    assert len(box.sent()) == 45 and set(box.sent_per_customer().values()) == {1}
    assert statuses(campaign) == {"sent": 45}


@pytest.mark.parametrize("wired", [100], indirect=True)
def test_two_worker_processes_share_a_campaign_and_send_each_recipient_once(wired, extra_workers, settings):
    box, tag = wired
    queue, _ = extra_workers("pair", count=2)
    settings.CAMPAIGN_DISPATCH_QUEUE = queue
    make_contacts(150, tag=tag)
    campaign = new_campaign(box.channel, tag)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(finished(campaign), "the campaign to complete", timeout_s=40)
    assert len(box.sent()) == 150 and set(box.sent_per_customer().values()) == {1}
    with schema_context("alpha"):
        workers = set(Recipient.objects.filter(campaign=campaign).values_list("claimed_by", flat=True))
        pids = {w.split(":")[1] for w in workers}
    assert len(pids) == 2, f"both processes should have sent: {workers}"
    assert statuses(campaign) == {"sent": 150}


@pytest.mark.parametrize("wired", [4], indirect=True)
def test_a_worker_killed_mid_send_leaves_no_duplicate_and_no_lost_recipient(wired, extra_workers, settings):
    box, tag = wired
    box.configure(latency_ms=150)  # every send spends a while with the provider: the kill lands there
    queue, (proc,) = extra_workers("crash", CAMPAIGN_WORKER_HEARTBEAT_S="1")
    settings.CAMPAIGN_DISPATCH_QUEUE = queue
    make_contacts(12, tag=tag)
    campaign = new_campaign(box.channel, tag)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)

    def in_flight_after_some_sent():
        with schema_context("alpha"):
            rows = Recipient.objects.filter(campaign=campaign)
            if rows.filter(status="sent").count() < 3:
                return None
            return rows.filter(status="sending", message__status="sending").first()

    in_flight = wait_for(in_flight_after_some_sent, "a message with the provider", interval_s=0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    box.configure(latency_ms=0)

    import time

    time.sleep(1.2)  # the dead worker's heartbeat expires
    settings.CAMPAIGN_DISPATCH_QUEUE = "celery"  # the session's worker takes over
    with schema_context("alpha"):
        campaigns_tick()
    wait_for(finished(campaign), "another worker to finish the campaign", timeout_s=30)

    with schema_context("alpha"):
        rows = {r.id: r for r in Recipient.objects.filter(campaign=campaign)}
    assert rows[in_flight.id].status == "unknown"  # shown as such, never resent blindly
    assert {r.status for r in rows.values()} <= {"sent", "unknown"}
    per_customer = box.sent_per_customer()
    assert set(per_customer.values()) == {1}  # nobody got it twice
    sent_phones = {r.phone.lstrip("+") for r in rows.values() if r.status == "sent"}
    assert sent_phones <= set(per_customer)  # every "sent" really went out
    assert len(per_customer) - len(sent_phones) <= 1  # only the in-flight one is unaccounted for
    assert sum(1 for r in rows.values() if r.status == "unknown") == 1


@pytest.mark.parametrize("wired", [50], indirect=True)
def test_permanent_errors_fail_with_their_reason_and_a_failure_spike_stops_the_campaign(wired):
    box, tag = wired
    box.configure(fail_rate=1.0, fail_code=131026)
    make_contacts(80, tag=tag)
    campaign = new_campaign(box.channel, tag, auto_stop_sample=20, auto_stop_failure_ratio=0.25)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(finished(campaign, "stopped"), "the campaign to stop itself")
    box.configure(fail_rate=0.0)
    import time

    time.sleep(0.5)
    campaign = refreshed(campaign)
    assert "Stopped automatically" in campaign.stop_reason and "131026" in campaign.stop_reason
    counts = statuses(campaign)
    assert 5 < counts["failed"] < 80 and counts.get("pending", 0) > 0 and "sent" not in counts
    with schema_context("alpha"):
        failed = Recipient.objects.filter(campaign=campaign, status="failed").first()
        assert failed.error_code == "131026" and failed.error_title
        from campaigns.selectors import campaign_stats

        assert campaign_stats(campaign=campaign)["failed_by_reason"] == {"131026": counts["failed"]}


@pytest.mark.parametrize("wired", [50], indirect=True)
def test_quiet_hours_pause_sending_and_resume_it_automatically(wired):
    box, tag = wired
    make_contacts(10, tag=tag)
    with schema_context("alpha"):
        from tenants.models import Company

        tz = Company.objects.get(schema_name="alpha").timezone
    from zoneinfo import ZoneInfo

    local_now = timezone.now().astimezone(ZoneInfo(tz))
    start = (local_now - dt.timedelta(hours=1)).time()
    end = (local_now + dt.timedelta(seconds=3)).time()
    campaign = new_campaign(
        box.channel, tag, is_quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end
    )
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(finished(campaign, "quiet_hours"), "the campaign to wait for quiet hours")
    assert box.sent() == [] and refreshed(campaign).resume_at is not None
    wait_for(finished(campaign), "the campaign to resume by itself and complete", timeout_s=20)
    assert len(box.sent()) == 10 and set(box.sent_per_customer().values()) == {1}


@pytest.mark.parametrize("wired", [100], indirect=True)
def test_cancel_while_several_dispatchers_send_stops_cleanly(wired):
    from campaigns.services import campaign_cancel

    box, tag = wired
    make_contacts(200, tag=tag)
    campaign = new_campaign(box.channel, tag)
    with schema_context("alpha"):
        campaign_start(campaign=campaign)
    wait_for(lambda: len(box.sent()) >= 20, "some sends")
    with schema_context("alpha"):
        assert campaign_cancel(campaign=refreshed(campaign)).status == "cancelled"
    wait_for(lambda: "sending" not in statuses(campaign), "in-flight sends to settle")
    counts = statuses(campaign)
    assert "pending" not in counts and counts["skipped"] > 0
    assert len(box.sent()) == counts["sent"] and set(box.sent_per_customer().values()) == {1}
