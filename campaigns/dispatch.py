"""Paced dispatch. Any number of workers share a campaign: each claims a batch of pending recipients with
SELECT … FOR UPDATE SKIP LOCKED (a lease, so a dead worker's batch is taken over), then for each one:

  pending → sending (committed before anything else) → message created → provider → sent | failed

Only a recipient whose message may have reached the provider (its Message is `sending`) becomes `unknown`
when its worker dies; one that never got that far goes back to pending. Nothing is resent blindly."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from campaigns.links import links_shorten, short_link_base
from campaigns.models import Campaign, Recipient
from campaigns.render import template_params, text_render
from campaigns.services import ACTIVE, control_key, dispatch_kick, pending_recipients_update
from channels_wa.pacing import SendPacer, send_rate_slow_down
from channels_wa.providers import base
from channels_wa.providers.meta_whatsapp.errors import NO_ANSWER_CODE
from channels_wa.providers.registry import provider_for
from core.errors import OmniDeskError
from core.realtime import broadcast_on_commit
from core.redis import get_redis
from inbox.batch import (
    BatchSend,
    messages_claim_for_sending,
    messages_queue,
    messages_sent_record,
    messages_unclaim,
)
from inbox.models import Message
from inbox.services import DeliveryOutcome, _outbound, message_delivery_record
from tenants.models import Company

logger = logging.getLogger(__name__)

LEASE_S = 30
MAX_ATTEMPTS = 5
THROUGHPUT_CODE, PAIR_RATE_CODE = "130429", "131056"


def new_worker_id() -> str:
    return (
        f"{socket.gethostname()[:20]}:{os.getpid()}:{threading.get_ident() % 100000}:{uuid.uuid4().hex[:6]}"
    )


def _heartbeat_key(worker_id: str) -> str:
    return f"campaigns:worker:{worker_id}"


def _dispatching_key(campaign_id: int) -> str:
    return f"campaigns:dispatching:{connection.schema_name}:{campaign_id}"


def heartbeat(worker_id: str, campaign_id: int) -> None:
    ttl_ms = int(settings.CAMPAIGN_WORKER_HEARTBEAT_S * 1000)
    pipe = get_redis().pipeline()
    pipe.set(_heartbeat_key(worker_id), "1", px=ttl_ms)
    pipe.set(_dispatching_key(campaign_id), worker_id, px=ttl_ms)
    pipe.execute()


def is_being_dispatched(campaign_id: int) -> bool:
    return bool(get_redis().exists(_dispatching_key(campaign_id)))


# -- quiet hours --------------------------------------------------------------------------------------------


def company_timezone() -> ZoneInfo:
    tz = Company.objects.filter(schema_name=connection.schema_name).values_list("timezone", flat=True).first()
    try:
        return ZoneInfo(tz or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def quiet_hours_end(campaign: Campaign, now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the quiet hours we are in end, or None when now is not within them (company's local time)."""
    if not campaign.is_quiet_hours_enabled or campaign.quiet_hours_start == campaign.quiet_hours_end:
        return None
    local = now.astimezone(tz)
    t, start, end = local.timetz().replace(tzinfo=None), campaign.quiet_hours_start, campaign.quiet_hours_end
    is_quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not is_quiet:
        return None
    end_local = datetime.combine(local.date(), end, tzinfo=tz)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local


# -- progress -----------------------------------------------------------------------------------------------


def progress_emit(*, campaign: Campaign, force: bool = False) -> None:
    """campaign.progress at most once a second per campaign (status changes always go out)."""
    from campaigns.selectors import campaign_stats

    key = f"campaigns:progress:{connection.schema_name}:{campaign.id}"
    if not get_redis().set(key, "1", px=1000, nx=True) and not force:
        return
    stats = campaign_stats(campaign=campaign)
    broadcast_on_commit(
        "campaign.progress",
        {
            "id": campaign.id,
            "status": campaign.status,
            "stop_reason": campaign.stop_reason,
            "total": stats["total"],
            "sent": stats["sent"],
            "queued": stats["queued"],
            "delivered": stats["delivered"],
            "read": stats["read"],
            "replied": stats["replied"],
            "failed": stats["failed"],
            "unknown": stats["unknown"],
            "clicked": stats["clicked"],
            "opted_out": stats["opted_out"],
        },
    )


# -- claiming and recovery ----------------------------------------------------------------------------------


def claim_batch(*, campaign_id: int, worker_id: str, size: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE campaigns_recipient SET claimed_by = %s, claimed_until = now() + make_interval(secs => %s)
            WHERE id IN (
                SELECT id FROM campaigns_recipient
                WHERE campaign_id = %s AND status = 'pending'
                  AND (claimed_until IS NULL OR claimed_until < now())
                  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                ORDER BY id LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            """,
            [worker_id, LEASE_S, campaign_id, size],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _release(worker_id: str, campaign_id: int) -> None:
    pending_recipients_update(
        campaign_id=campaign_id, claimed_by_any=[worker_id], claimed_by="", claimed_until=None
    )


def campaign_recover(*, campaign_id: int) -> dict[str, int]:
    """Settle recipients whose worker died (its heartbeat expired): a `sending` one whose message never
    reached the provider goes back to pending; one the provider may have had becomes `unknown`."""
    redis = get_redis()
    counts = {"requeued": 0, "unknown": 0, "settled": 0}
    workers = set(
        Recipient.objects.filter(campaign_id=campaign_id)
        .filter(
            Q(status=Recipient.Status.SENDING)
            | Q(status=Recipient.Status.PENDING, claimed_until__isnull=False)
        )
        .exclude(claimed_by="")
        .values_list("claimed_by", flat=True)
        .distinct()
    )
    dead = [w for w in workers if not redis.exists(_heartbeat_key(w))]
    if not dead:
        return counts
    pending_recipients_update(campaign_id=campaign_id, claimed_by_any=dead, claimed_by="", claimed_until=None)
    orphans = Recipient.objects.filter(
        campaign_id=campaign_id, claimed_by__in=dead, status=Recipient.Status.SENDING
    ).select_related("message")
    for recipient in orphans:
        message = recipient.message
        with transaction.atomic():
            if message is None or message.status == Message.Status.QUEUED:
                Recipient.objects.filter(pk=recipient.pk, status=Recipient.Status.SENDING).update(
                    status=Recipient.Status.PENDING, claimed_by="", claimed_until=None
                )
                counts["requeued"] += 1
            elif message.status == Message.Status.SENDING:
                Recipient.objects.filter(pk=recipient.pk, status=Recipient.Status.SENDING).update(
                    status=Recipient.Status.UNKNOWN,
                    error_code="unknown",
                    error_title="The worker stopped while the provider had this message; it was not resent.",
                )
                counts["unknown"] += 1
            else:
                _settle_from_message(recipient.pk, message)
                counts["settled"] += 1
    if any(counts.values()):
        logger.warning("campaign %s: recovered after a worker stopped: %s", campaign_id, counts)
    return counts


def _settle_from_message(recipient_id: int, message: Message) -> None:
    if message.status == Message.Status.FAILED:
        Recipient.objects.filter(pk=recipient_id).update(
            status=Recipient.Status.FAILED,
            failed_at=message.failed_at or timezone.now(),
            error_code=message.error_code,
            error_title=message.error_title[:255],
        )
    else:
        Recipient.objects.filter(pk=recipient_id).update(
            status=Recipient.Status.SENT,
            sent_at=message.sent_at or timezone.now(),
            error_code="",
            error_title="",
        )


# -- one recipient ------------------------------------------------------------------------------------------


class _Run:
    """What one dispatch run keeps between recipients."""

    def __init__(self, campaign: Campaign, worker_id: str):
        self.campaign = campaign
        self.channel = campaign.channel
        self.worker_id = worker_id
        self.links: dict[str, str] = {}
        self.provider = provider_for(self.channel)  # one pooled connection for the whole run
        self.provider.open()
        self.link_base = ""
        if campaign.is_link_tracking:
            company = Company.objects.get(schema_name=connection.schema_name)
            self.link_base = short_link_base(domain=company.get_primary_domain().domain)

    def personalise(self, text: str, recipient: Recipient) -> str:
        text = text_render(text, contact=recipient.contact, variables=recipient.variables)
        if self.link_base:
            text = links_shorten(
                text=text,
                campaign=self.campaign,
                recipient_id=recipient.id,
                base_url=self.link_base,
                cache=self.links,
            )
        return text

    def content(self, recipient: Recipient) -> tuple[str, str, dict]:
        campaign = self.campaign
        if campaign.kind == Campaign.Kind.TEXT:
            return base.TEXT, self.personalise(campaign.text, recipient), {"campaign_id": campaign.id}
        params = template_params(
            campaign.template_variables, contact=recipient.contact, variables=recipient.variables
        )
        if self.link_base:
            params = [
                links_shorten(
                    text=p,
                    campaign=campaign,
                    recipient_id=recipient.id,
                    base_url=self.link_base,
                    cache=self.links,
                )
                for p in params
            ]
        payload = {
            "name": campaign.template_name,
            "language": campaign.template_language or "en_US",
            "body_params": params,
            "campaign_id": campaign.id,
        }
        if campaign.header_media_link:
            payload["header_media"] = {"kind": campaign.header_media_kind, "link": campaign.header_media_link}
        return base.TEMPLATE, "", payload


def _fail(recipient_id: int, code: str, title: str) -> None:
    Recipient.objects.filter(pk=recipient_id).update(
        status=Recipient.Status.FAILED,
        failed_at=timezone.now(),
        error_code=code[:32],
        error_title=title[:255],
    )


def _retry_later(recipient_id: int, delay_s: float, code: str, title: str) -> None:
    Recipient.objects.filter(pk=recipient_id, status=Recipient.Status.SENDING).update(
        status=Recipient.Status.PENDING,
        claimed_by="",
        claimed_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay_s),
        error_code=code[:32],
        error_title=title[:255],
    )


@dataclass
class _Item:
    """A recipient marked `sending` with its queued message, ready for the provider."""

    recipient_id: int
    attempts: int
    message: Message


def _recipients_update(
    sql_set: str, ids: list[int], params: list | None = None, *, only_status: str = ""
) -> int:
    """Update some recipients, locking them in id order like every other multi-row change (no deadlocks:
    see campaigns.services.pending_recipients_update)."""
    if not ids:
        return 0
    where = "id = ANY(%s)" + (" AND status = %s" if only_status else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE campaigns_recipient SET {sql_set} WHERE id IN"
            f" (SELECT id FROM campaigns_recipient WHERE {where} ORDER BY id FOR UPDATE)",
            [*(params or []), ids, *([only_status] if only_status else [])],
        )
        return cursor.rowcount


def batch_prepare(*, run: _Run, recipient_ids: list[int]) -> list[_Item]:
    """Claimed recipients → `sending`, each with its queued message, committed together before anything
    goes to the provider (a recipient retried after an earlier attempt reuses its message)."""
    recipients = list(
        Recipient.objects.select_related("contact")
        .filter(pk__in=recipient_ids, status=Recipient.Status.PENDING, claimed_by=run.worker_id)
        .order_by("id")
    )  # a lease that passed to another worker meanwhile drops out here
    opted_out = [r.id for r in recipients if r.contact.is_opted_out]
    if opted_out:
        Recipient.objects.filter(pk__in=opted_out, status=Recipient.Status.PENDING).update(
            status=Recipient.Status.SKIPPED, error_code="opted_out", error_title="The contact opted out"
        )
    recipients = [r for r in recipients if not r.contact.is_opted_out]
    contents: dict[int, tuple[str, str, dict]] = {}
    for recipient in recipients:
        if recipient.message_id is None:
            try:
                contents[recipient.id] = run.content(recipient)
            except OmniDeskError as exc:
                _fail(recipient.id, exc.code, exc.message)
    recipients = [r for r in recipients if r.message_id is not None or r.id in contents]
    if not recipients:
        return []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE campaigns_recipient SET status = 'sending', sending_started_at = now(),"
                " attempts = attempts + 1 WHERE id IN (SELECT id FROM campaigns_recipient"
                " WHERE id = ANY(%s) AND status = 'pending' AND claimed_by = %s ORDER BY id FOR UPDATE)"
                " RETURNING id, attempts",
                [[r.id for r in recipients], run.worker_id],
            )
            attempts = dict(cursor.fetchall())
        recipients = [r for r in recipients if r.id in attempts]
        fresh = [r for r in recipients if r.message_id is None]
        queued = messages_queue(
            channel=run.channel,
            sends=[BatchSend(r.contact, *contents[r.id]) for r in fresh],
            sender_kind=Message.SenderKind.AUTOMATION,
        )
        messages: dict[int, Message] = {}
        for recipient, result in zip(fresh, queued, strict=True):
            if isinstance(result, OmniDeskError):
                _fail(recipient.id, result.code, result.message)
            else:
                messages[recipient.id] = result
        if messages:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE campaigns_recipient AS r SET message_id = v.message_id"
                    " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, message_id) WHERE r.id = v.id",
                    [list(messages), [m.id for m in messages.values()]],
                )
    retried = {r.message_id: r.id for r in recipients if r.message_id is not None}
    if retried:
        for message in Message.objects.select_related("conversation__contact").filter(pk__in=list(retried)):
            message.channel = run.channel
            messages[retried[message.id]] = message
    return [_Item(r.id, attempts[r.id], messages[r.id]) for r in recipients if r.id in messages]


def _outcome_apply(run: _Run, item: _Item, outcome: str, error) -> str:
    """A recipient's fate after a send that did not simply succeed."""
    if outcome == DeliveryOutcome.RETRY:
        if error.code == THROUGHPUT_CODE:
            send_rate_slow_down(channel=run.channel)
            delay_s = max(error.retry_after_s or 0, 1.0)
        elif error.code == PAIR_RATE_CODE:
            delay_s = max(error.retry_after_s or 0, settings.CAMPAIGN_PAIR_RETRY_S)
        else:
            delay_s = max(error.retry_after_s or 0, 2.0**item.attempts)
        _retry_later(item.recipient_id, delay_s, error.code, error.title)
        return "retry"
    if outcome == DeliveryOutcome.FAILED and error.code == NO_ANSWER_CODE:
        # The provider may have it: shown as unknown, never resent blindly.
        _recipients_update(
            "status = 'unknown', error_code = %s, error_title = %s",
            [item.recipient_id],
            [error.code, error.title[:255]],
        )
        return "unknown"
    if outcome == DeliveryOutcome.FAILED:
        _fail(item.recipient_id, error.code, error.title)
        return "failed"
    # SKIPPED: the message was no longer queued; take its outcome as it is.
    _settle_from_message(item.recipient_id, Message.objects.get(pk=item.message.id))
    return "settled"


def _unsent_release(campaign_id: int, items: list[_Item]) -> None:
    """Prepared recipients that never reached the provider go back to pending (their queued message is
    reused when they are sent), or are skipped when the campaign was cancelled meanwhile."""
    ids = [item.recipient_id for item in items]
    if not ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # Serialised with campaign_cancel (which locks the campaign row before skipping what is pending).
        cursor.execute("SELECT status FROM campaigns_campaign WHERE id = %s FOR SHARE", [campaign_id])
        row = cursor.fetchone()
        if row and row[0] == Campaign.Status.CANCELLED:
            assignments = "status = 'skipped', error_code = 'cancelled', error_title = 'Campaign cancelled'"
        else:
            assignments = "status = 'pending', claimed_by = '', claimed_until = NULL"
        _recipients_update(
            f"{assignments}, attempts = GREATEST(attempts - 1, 0)", ids, only_status=Recipient.Status.SENDING
        )


def _paced_retry(items: list[_Item]) -> None:
    for item in items:
        _retry_later(item.recipient_id, 1, "paced", "Waiting for the channel's pace")


def chunk_size(channel) -> int:
    """Messages a dispatcher reserves slots for at once: about 50 ms of the channel's rate."""
    return max(1, min(20, round(channel.rate_per_s * 0.025)))


def batch_send(*, run: _Run, items: list[_Item]) -> dict[str, int]:
    """Send prepared recipients at the channel's pace, a chunk at a time: mark the chunk's messages
    `sending`, send each at its reserved slot, record the outcomes together. Returns counts by outcome;
    "halted" when the campaign was paused, stopped or cancelled meanwhile."""
    counts: dict[str, int] = {}
    size = chunk_size(run.channel)
    for start in range(0, len(items), size):
        chunk, later = items[start : start + size], items[start + size :]
        heartbeat(run.worker_id, run.campaign.id)
        if _is_halted(run.campaign.id):
            _unsent_release(run.campaign.id, items[start:])
            counts["halted"] = 1
            return counts
        mine = messages_claim_for_sending(message_ids=[item.message.id for item in chunk])
        pacer = SendPacer(channel=run.channel, count=len(mine), max_wait_s=60)
        sent: list[tuple[_Item, base.SendResult]] = []
        others: list[tuple[_Item, base.SendResult | None]] = []
        stop = ""
        for index, item in enumerate(chunk):
            if item.message.id not in mine:
                others.append((item, None))  # another worker has this message: take its outcome
                continue
            try:  # built before the wait: from the slot to the provider, as little as possible
                outbound = _outbound(item.message)
            except Exception as exc:
                logger.exception("campaign %s: recipient %s", run.campaign.id, item.recipient_id)
                error = base.ProviderError(
                    code="invalid_message", title="Message not sendable", detail=str(exc)
                )
                others.append((item, base.SendResult(error=error)))
                continue
            if not pacer.wait():
                stop = "paced"
            elif _is_halted(run.campaign.id):  # right before the send: a pause or stop while waiting holds
                stop = "halted"
            if stop:
                unsent = [i for i in chunk[index:] if i.message.id in mine]
                others.extend((i, None) for i in chunk[index:] if i.message.id not in mine)
                messages_unclaim(message_ids=[i.message.id for i in unsent])
                if stop == "paced":
                    _paced_retry(unsent + later)
                else:
                    _unsent_release(run.campaign.id, unsent + later)
                break
            try:
                result = run.provider.send(outbound)
            except Exception:
                # Whether the provider got it is unknown: shown as such, never resent blindly.
                logger.exception("campaign %s: recipient %s", run.campaign.id, item.recipient_id)
                _recipients_update(
                    "status = 'unknown', error_code = 'unknown', error_title = %s",
                    [item.recipient_id],
                    ["The send failed unexpectedly while the provider may have had it; it was not resent."],
                )
                continue
            (sent if result.is_ok else others).append((item, result))
        _chunk_record(run, sent, others, counts)
        if stop:
            counts[stop] = counts.get(stop, 0) + 1
            return counts
    return counts


def _chunk_record(
    run: _Run,
    sent: list[tuple[_Item, base.SendResult]],
    others: list[tuple[_Item, base.SendResult | None]],
    counts: dict[str, int],
) -> None:
    if sent:
        with transaction.atomic():
            messages_sent_record(channel=run.channel, sent=[(item.message, r) for item, r in sent])
            _recipients_update(
                "status = 'sent', sent_at = now(), error_code = '', error_title = ''",
                [item.recipient_id for item, _ in sent],
            )
        counts["sent"] = counts.get("sent", 0) + len(sent)
    for item, result in others:
        try:
            if result is None:
                outcome, error = DeliveryOutcome.SKIPPED, None
            else:
                outcome, error = message_delivery_record(
                    message_id=item.message.id,
                    channel_id=run.channel.id,
                    result=result,
                    is_last_attempt=item.attempts >= MAX_ATTEMPTS,
                )
            what = _outcome_apply(run, item, outcome, error)
            counts[what] = counts.get(what, 0) + 1
        except Exception:
            # One bad recipient never stops the campaign; what happened to it is left for recovery.
            logger.exception("campaign %s: recipient %s", run.campaign.id, item.recipient_id)


# -- the run ------------------------------------------------------------------------------------------------


def _is_halted(campaign_id: int) -> bool:
    status = get_redis().get(control_key(campaign_id))
    return status is not None and status.decode() not in (Campaign.Status.RUNNING,)


def _auto_stop_check(campaign: Campaign) -> bool:
    """Stop the campaign when too many of its first sends failed (protects the number's quality rating)."""
    if campaign.is_auto_stop_checked:
        return False
    counts = Recipient.objects.filter(campaign=campaign).aggregate(
        done=Count("id", filter=Q(status__in=[Recipient.Status.SENT, Recipient.Status.FAILED])),
        failed=Count("id", filter=Q(status=Recipient.Status.FAILED)),
    )
    sample, ratio = campaign.auto_stop_sample, campaign.auto_stop_failure_ratio
    done, failed = counts["done"], counts["failed"]
    considered = min(done, sample)
    if failed > ratio * sample or (done >= sample and failed / max(done, 1) > ratio):
        reasons = (
            Recipient.objects.filter(campaign=campaign, status=Recipient.Status.FAILED)
            .values("error_code")
            .annotate(n=Count("id"), title=Max("error_title"))
            .order_by("-n")[:3]
        )
        top = "; ".join(f"{r['error_code']} {r['title']} ({r['n']})" for r in reasons)
        reason = (
            f"Stopped automatically: {failed} of the first {max(considered, done)} sends failed "
            f"(more than {ratio:.0%}). Most common: {top}."
        )
        with transaction.atomic():
            stopped = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
                status=Campaign.Status.STOPPED, stop_reason=reason, updated_at=timezone.now()
            )
            if stopped:
                campaign.status, campaign.stop_reason = Campaign.Status.STOPPED, reason
                get_redis().set(control_key(campaign.id), campaign.status, ex=7 * 24 * 3600)
                progress_emit(campaign=campaign, force=True)
        return True
    if done >= sample:
        Campaign.objects.filter(pk=campaign.pk).update(is_auto_stop_checked=True)
        campaign.is_auto_stop_checked = True
    return False


def _finish_or_wait(campaign: Campaign, worker_id: str) -> str:
    remaining = Recipient.objects.filter(
        campaign=campaign, status__in=[Recipient.Status.PENDING, Recipient.Status.SENDING]
    )
    if not remaining.exists():
        return campaign_complete(campaign=campaign)
    next_retry = (
        remaining.filter(status=Recipient.Status.PENDING, claimed_until__isnull=True)
        .exclude(next_attempt_at=None)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_retry is not None:  # only retries later remain for us: come back then
        dispatch_kick(campaign=campaign, count=1, eta=max(next_retry, timezone.now()))
        return "waiting"
    return "others_busy"


def campaign_complete(*, campaign: Campaign) -> str:
    from automation.services import webhook_event_emit
    from campaigns.selectors import campaign_stats

    with transaction.atomic():
        done = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.COMPLETED, completed_at=timezone.now(), updated_at=timezone.now()
        )
        if not done:
            return "already_done"
        campaign.refresh_from_db()
        get_redis().set(control_key(campaign.id), campaign.status, ex=7 * 24 * 3600)
        progress_emit(campaign=campaign, force=True)
        stats = campaign_stats(campaign=campaign)
        webhook_event_emit(
            event_type="campaign.completed",
            data={"id": campaign.id, "name": campaign.name, "status": campaign.status, "stats": stats},
        )
    return "completed"


def campaign_dispatch_run(*, campaign_id: int, max_run_s: float = 240.0) -> str:
    """One dispatcher: claim batches and send them, paced, until the campaign is done, halted, in quiet
    hours, or this run has gone on long enough (then it hands over to a fresh task)."""
    worker_id = new_worker_id()
    deadline = time.monotonic() + max_run_s
    campaign = Campaign.objects.select_related("channel").filter(pk=campaign_id).first()
    if campaign is None:
        return "missing"
    if (
        campaign.status == Campaign.Status.QUIET_HOURS
        and campaign.resume_at
        and campaign.resume_at <= timezone.now()
    ):
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.QUIET_HOURS).update(
            status=Campaign.Status.RUNNING, resume_at=None
        )
        campaign.status = Campaign.Status.RUNNING
        get_redis().set(control_key(campaign.id), campaign.status, ex=7 * 24 * 3600)
        progress_emit(campaign=campaign, force=True)
    if campaign.status != Campaign.Status.RUNNING:
        return campaign.status
    campaign_recover(campaign_id=campaign_id)
    run = _Run(campaign, worker_id)
    try:
        return _dispatch_loop(run, deadline)
    finally:
        run.provider.close()


def _dispatch_loop(run: _Run, deadline: float) -> str:
    campaign, worker_id, campaign_id = run.campaign, run.worker_id, run.campaign.id
    tz = company_timezone()
    batch_size = max(5, min(100, int(campaign.channel.rate_per_s // 4)))
    while True:
        heartbeat(worker_id, campaign_id)
        quiet_end = quiet_hours_end(campaign, timezone.now(), tz)
        if quiet_end is not None:
            return _enter_quiet_hours(campaign, quiet_end)
        ids = claim_batch(campaign_id=campaign_id, worker_id=worker_id, size=batch_size)
        if not ids:
            return _finish_or_wait(campaign, worker_id)
        try:
            items = batch_prepare(run=run, recipient_ids=ids)
        except Exception:
            # A batch that cannot be prepared is left for recovery; the campaign goes on.
            logger.exception("campaign %s: preparing recipients %s", campaign_id, ids)
            items = []
        if batch_send(run=run, items=items).get("halted"):
            _release(worker_id, campaign_id)
            return "halted"
        progress_emit(campaign=campaign)
        if _auto_stop_check(campaign):
            _release(worker_id, campaign_id)
            return "stopped"
        campaign.refresh_from_db(fields=["status"])
        if campaign.status != Campaign.Status.RUNNING:
            _release(worker_id, campaign_id)
            return campaign.status
        if time.monotonic() > deadline:
            _release(worker_id, campaign_id)
            dispatch_kick(campaign=campaign, count=1)
            return "handed_over"


def _enter_quiet_hours(campaign: Campaign, end: datetime) -> str:
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.QUIET_HOURS, resume_at=end, updated_at=timezone.now()
        )
        if changed:
            campaign.status, campaign.resume_at = Campaign.Status.QUIET_HOURS, end
            get_redis().set(control_key(campaign.id), campaign.status, ex=7 * 24 * 3600)
            progress_emit(campaign=campaign, force=True)
            dispatch_kick(campaign=campaign, eta=end)
    return "quiet_hours"


def campaigns_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Periodic, per company: start scheduled campaigns that are due, resume those whose quiet hours
    ended, recover recipients of dead workers, and restart dispatch where no worker is on it."""
    from campaigns.services import campaign_start

    now = now or timezone.now()
    counts = {"started": 0, "kicked": 0}
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now):
        try:
            campaign_start(campaign=campaign, now=now)
            counts["started"] += 1
        except OmniDeskError as exc:
            Campaign.objects.filter(pk=campaign.pk).update(
                status=Campaign.Status.STOPPED, stop_reason=exc.message
            )
    for campaign in Campaign.objects.filter(status__in=ACTIVE).select_related("channel"):
        if campaign.status == Campaign.Status.QUIET_HOURS and (campaign.resume_at or now) > now:
            continue
        if is_being_dispatched(campaign.id):
            continue
        campaign_recover(campaign_id=campaign.id)
        dispatch_kick(campaign=campaign)
        counts["kicked"] += 1
    return counts
