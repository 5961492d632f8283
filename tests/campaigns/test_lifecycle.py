"""Lifecycle without a worker: scheduling and the tick, progress events (at most about one a second),
campaign.completed for subscribed webhook endpoints, cancel and duplicate."""

from __future__ import annotations

import datetime as dt
import json
import time
from unittest import mock

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from automation.models import WebhookDelivery
from automation.services import webhook_endpoint_create
from campaigns.dispatch import campaign_complete, campaigns_tick, progress_emit, quiet_hours_end
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_cancel, campaign_create, campaign_duplicate, campaign_start
from channels_wa.models import Channel
from inbox.models import Contact
from tests.helpers import capture_realtime_events


@pytest.fixture
def draft(alpha):
    with schema_context("alpha"):
        channel = Channel.objects.create(provider="sandbox", name="L", external_id="life-camp", rate_per_s=10)
        Contact.objects.bulk_create(
            [Contact(phone=f"+44770092{i:04d}", name=f"L{i}", tags=["life"]) for i in range(4)]
        )
        yield campaign_create(
            name="Later",
            channel=channel,
            audience={"tags": ["life"]},
            template_name="spring_sale",
            is_quiet_hours_enabled=False,
        )


def test_a_scheduled_campaign_starts_when_the_tick_finds_it_due(draft):
    with schema_context("alpha"), mock.patch("campaigns.services.dispatch_kick") as kick:
        draft.scheduled_at = timezone.now() + dt.timedelta(hours=2)
        draft.save()
        scheduled = campaign_start(campaign=draft)
        assert scheduled.status == "scheduled" and not Recipient.objects.filter(campaign=draft).exists()
        assert campaigns_tick()["started"] == 0
        assert campaigns_tick(now=timezone.now() + dt.timedelta(hours=3))["started"] == 1
        assert Campaign.objects.get(pk=draft.pk).status == "running"
        assert Recipient.objects.filter(campaign=draft).count() == 4 and kick.called


def test_progress_events_are_throttled_to_about_one_a_second(draft, django_capture_on_commit_callbacks):
    with schema_context("alpha"), mock.patch("campaigns.services.dispatch_kick"):
        with capture_realtime_events() as events, django_capture_on_commit_callbacks(execute=True):
            campaign = campaign_start(campaign=draft)
            progress_emit(campaign=campaign)
            progress_emit(campaign=campaign)
        progress = [payload for kind, payload, _ in events if kind == "campaign.progress"]
        assert len(progress) == 1  # the start's event; the two right after it are dropped
        assert progress[0]["total"] == 4 and progress[0]["status"] == "running"
        assert all(group.startswith("alpha.") for _, _, groups in events for group in groups)


def test_completion_notifies_subscribed_webhook_endpoints(draft):
    with schema_context("alpha"), mock.patch("campaigns.services.dispatch_kick"):
        webhook_endpoint_create(url="https://hooks.example.com/omnidesk", events=["campaign.completed"])
        campaign = campaign_start(campaign=draft)
        Recipient.objects.filter(campaign=campaign).update(status="sent", sent_at=timezone.now())
        assert campaign_complete(campaign=campaign) == "completed"
        assert campaign_complete(campaign=campaign) == "already_done"  # a second worker changes nothing
        data = json.loads(WebhookDelivery.objects.get(event_type="campaign.completed").body)["data"]
        assert data["id"] == campaign.id and data["stats"]["sent"] == 4


def test_cancel_skips_what_is_left_and_duplicate_makes_a_draft(draft):
    with schema_context("alpha"), mock.patch("campaigns.services.dispatch_kick"):
        campaign = campaign_start(campaign=draft)
        cancelled = campaign_cancel(campaign=campaign)
        assert cancelled.status == "cancelled"
        assert set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
            "skipped"
        }
        copy = campaign_duplicate(campaign=cancelled)
        assert copy.status == "draft" and copy.audience == campaign.audience and copy.pk != campaign.pk


def test_quiet_hours_wrap_midnight_in_the_company_timezone(draft):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Jakarta")
    draft.is_quiet_hours_enabled = True
    draft.quiet_hours_start, draft.quiet_hours_end = dt.time(21, 0), dt.time(8, 0)
    late = dt.datetime(2026, 3, 1, 22, 30, tzinfo=tz)
    early = dt.datetime(2026, 3, 2, 7, 0, tzinfo=tz)
    noon = dt.datetime(2026, 3, 2, 12, 0, tzinfo=tz)
    assert quiet_hours_end(draft, late, tz) == dt.datetime(2026, 3, 2, 8, 0, tzinfo=tz)
    assert quiet_hours_end(draft, early, tz) == dt.datetime(2026, 3, 2, 8, 0, tzinfo=tz)
    assert quiet_hours_end(draft, noon, tz) is None


def test_a_media_header_and_personalised_links_reach_the_outbound_template(draft):
    from campaigns.dispatch import _Run
    from inbox.models import Conversation, Message
    from inbox.services import _outbound

    with schema_context("alpha"):
        draft.header_media_link, draft.header_media_kind = "https://cdn.example.com/banner.jpg", "image"
        draft.template_variables = [
            {"source": "field", "key": "first_name", "fallback": "there"},
            {"source": "csv", "key": "url", "fallback": "https://shop.example.com"},
        ]
        draft.save()
        contact = Contact.objects.filter(tags__contains=["life"]).first()
        recipient = Recipient.objects.create(
            campaign=draft,
            contact=contact,
            phone=contact.phone,
            variables={"url": "https://shop.example.com/x"},
        )
        kind, _, payload = _Run(draft, "worker-x").content(recipient)
        assert kind == "template" and payload["body_params"][0] == contact.name
        assert "/l/" in payload["body_params"][1] and "shop.example.com" not in payload["body_params"][1]
        message = Message(
            conversation=Conversation(contact=contact, channel=draft.channel),
            channel=draft.channel,
            kind=kind,
            payload=payload,
        )
        outbound = _outbound(message)
        assert outbound.template.header_media.link == "https://cdn.example.com/banner.jpg"
        assert outbound.template.header_media_kind == "image"


def test_a_send_that_gets_no_answer_is_shown_unknown_and_never_resent(
    alpha, sandbox, django_capture_on_commit_callbacks
):
    """The provider got the message but its answer never came (a read timeout): the recipient is
    `unknown`, the message is not retried, and the customer has it once."""
    import httpx

    from campaigns.dispatch import _Run, batch_prepare, batch_send, claim_batch
    from channels_wa.providers.meta_whatsapp.client import MetaGraphClient
    from channels_wa.providers.sandbox.provider import SandboxProvider
    from tests.campaigns.conftest import make_channel

    with django_capture_on_commit_callbacks(execute=True):  # the number is registered with the sandbox
        channel = make_channel(sandbox, rate_per_s=20)
    httpx.put(f"{sandbox.base_url}/_sandbox/config", json={"latency_ms": 600}).raise_for_status()
    with schema_context("alpha"):
        Contact.objects.create(phone="+447700929999", name="Slow Sam", tags=["slow"])
        campaign = campaign_create(
            name="Slow",
            channel=channel,
            audience={"tags": ["slow"]},
            template_name="spring_sale",
            template_variables=[{"source": "field", "key": "first_name"}, {"source": "static", "key": "x"}],
            is_quiet_hours_enabled=False,
        )
        with mock.patch("campaigns.services.dispatch_kick"):
            campaign_start(campaign=campaign)
        run = _Run(Campaign.objects.select_related("channel").get(pk=campaign.pk), "worker-slow")
        config = channel.config()
        run.provider = SandboxProvider(config, client=MetaGraphClient(config, timeout_s=0.2))
        ids = claim_batch(campaign_id=campaign.id, worker_id=run.worker_id, size=1)
        counts = batch_send(run=run, items=batch_prepare(run=run, recipient_ids=ids))
        assert counts == {"unknown": 1}
        recipient = Recipient.objects.get(pk=ids[0])
        assert recipient.status == "unknown" and recipient.error_code == "no_answer"
        assert recipient.message.status == "failed"  # not queued again: nobody sends it a second time
    time.sleep(0.6)  # the sandbox finishes the slow request: it did go out, once
    sent = httpx.get(f"{sandbox.base_url}/_sandbox/sent", params={"number": channel.external_id}).json()
    assert [m["wa_id"] for m in sent["data"]] == [recipient.phone.lstrip("+")]
