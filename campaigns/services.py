"""Everything that changes a campaign: create, update while draft, start, pause, resume, cancel, duplicate.
Dispatch itself lives in campaigns/dispatch.py."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.audience import audience_validate, recipients_create
from campaigns.models import Campaign, Recipient
from channels_wa.models import Channel, Template
from core.errors import BusinessRuleViolation, ValidationFailed
from core.redis import get_redis

EDITABLE_FIELDS = (
    "name",
    "channel_id",
    "audience",
    "audience_csv",
    "kind",
    "template_name",
    "template_language",
    "template_variables",
    "header_media_link",
    "header_media_kind",
    "text",
    "is_link_tracking",
    "scheduled_at",
    "is_quiet_hours_enabled",
    "quiet_hours_start",
    "quiet_hours_end",
    "auto_stop_sample",
    "auto_stop_failure_ratio",
)
ACTIVE = (Campaign.Status.RUNNING, Campaign.Status.QUIET_HOURS)


def pending_recipients_update(
    *, campaign_id: int, claimed_by_any: list[str] | None = None, **values: Any
) -> int:
    """Update a campaign's pending recipients, locking them in id order: every multi-row change (cancel,
    a dispatcher releasing its batch, recovery) takes row locks in the same order, so they never deadlock."""
    from django.db import connection

    assignments = ", ".join(f"{name} = %s" for name in values)
    where, params = "campaign_id = %s AND status = 'pending'", [campaign_id]
    if claimed_by_any is not None:
        where += " AND claimed_by = ANY(%s)"
        params.append(list(claimed_by_any))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE campaigns_recipient SET {assignments} WHERE id IN"
            f" (SELECT id FROM campaigns_recipient WHERE {where} ORDER BY id FOR UPDATE)",
            [*values.values(), *params],
        )
        return cursor.rowcount


def control_key(campaign_id: int) -> str:
    from django.db import connection

    return f"campaigns:control:{connection.schema_name}:{campaign_id}"


def _set_control(campaign: Campaign) -> None:
    """Dispatchers read this before every send, so pause and cancel take effect within one message."""
    get_redis().set(control_key(campaign.id), campaign.status, ex=7 * 24 * 3600)


def _validate(campaign: Campaign) -> None:
    if not campaign.name.strip():
        raise ValidationFailed("A campaign needs a name.", code="name_required")
    if campaign.kind not in Campaign.Kind.values:
        raise ValidationFailed(f"Unknown message kind {campaign.kind!r}.", code="invalid_kind")
    if campaign.kind == Campaign.Kind.TEXT and not campaign.text.strip():
        raise ValidationFailed("The message is empty.", code="empty_message")
    if campaign.kind == Campaign.Kind.TEMPLATE and not campaign.template_name:
        raise ValidationFailed("Choose an approved template.", code="template_required")
    if campaign.header_media_link and campaign.header_media_kind not in ("image", "video", "document"):
        raise ValidationFailed("A media header is an image, video or document.", code="invalid_header")
    if not 0 < campaign.auto_stop_failure_ratio <= 1:
        raise ValidationFailed("auto_stop_failure_ratio is between 0 and 1.", code="invalid_auto_stop")
    if not isinstance(campaign.template_variables, list):
        raise ValidationFailed("template_variables is a list.", code="invalid_variables")
    campaign.audience = audience_validate(campaign.audience or {})


def campaign_create(*, name: str, channel: Channel, created_by=None, **fields: Any) -> Campaign:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
    campaign = Campaign(name=name, channel=channel, created_by=created_by, **fields)
    if not campaign.template_language and campaign.kind == Campaign.Kind.TEMPLATE:
        campaign.template_language = "en_US"
    _validate(campaign)
    campaign.save()
    return campaign


def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    if not campaign.is_editable:
        raise BusinessRuleViolation(
            "Only a draft or scheduled campaign can be changed; duplicate it instead.",
            code="campaign_not_editable",
            details={"status": campaign.status},
        )
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.", code="not_updatable")
    for name, value in fields.items():
        setattr(campaign, name, value)
    _validate(campaign)
    campaign.save()
    return campaign


def _check_sendable(campaign: Campaign) -> None:
    if campaign.kind == Campaign.Kind.TEMPLATE:
        template = Template.objects.filter(
            channel_id=campaign.channel_id, name=campaign.template_name, language=campaign.template_language
        ).first()
        if template is not None and not template.is_approved:
            raise BusinessRuleViolation(
                f"The template {campaign.template_name} is {template.status}, not approved.",
                code="template_not_approved",
            )


def dispatcher_count(campaign: Campaign) -> int:
    """Parallel dispatch tasks for one campaign: enough that their sends together can fill the channel's
    rate (each waits on the database and the provider), never more than the cap; the bucket paces them."""
    per_dispatcher = max(1.0, settings.CAMPAIGN_DISPATCHER_RATE_PER_S)
    wanted = math.ceil(campaign.channel.rate_per_s / per_dispatcher)
    # Two at least: one prepares or records its batch while the other sends, so no slot goes unused.
    return max(1, min(settings.CAMPAIGN_MAX_DISPATCHERS, max(2, wanted)))


def dispatch_kick(*, campaign: Campaign, count: int | None = None, eta: datetime | None = None) -> None:
    from django.db import connection

    from campaigns.tasks import campaign_dispatch

    schema = connection.schema_name
    queue = settings.CAMPAIGN_DISPATCH_QUEUE
    n = count or dispatcher_count(campaign)

    def send() -> None:
        for _ in range(n):
            campaign_dispatch.apply_async(
                args=[campaign.id], headers={"_schema_name": schema}, queue=queue, eta=eta
            )

    transaction.on_commit(send)


# Campaign rows are locked FOR NO KEY UPDATE: a dispatcher's transaction that touches a recipient checks
# the recipient → campaign foreign key with FOR KEY SHARE at commit, which plain FOR UPDATE would block.


def campaign_start(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Send now, or at `scheduled_at` when that is in the future (the tick starts it then)."""
    now = now or timezone.now()
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise BusinessRuleViolation(
            f"A {campaign.status} campaign cannot be started.",
            code="invalid_transition",
            details={"status": campaign.status},
        )
    _validate(campaign)
    _check_sendable(campaign)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if campaign.scheduled_at and campaign.scheduled_at > now:
            campaign.status = Campaign.Status.SCHEDULED
            campaign.save(update_fields=["status", "updated_at"])
            _set_control(campaign)
            return campaign
        total = recipients_create(campaign=campaign)
        if total == 0:
            raise BusinessRuleViolation(
                "The audience is empty: nobody (who has not opted out) matches it.", code="empty_audience"
            )
        campaign.status, campaign.started_at = Campaign.Status.RUNNING, now
        campaign.save(update_fields=["status", "started_at", "updated_at"])
        _set_control(campaign)
        from campaigns.dispatch import progress_emit

        progress_emit(campaign=campaign, force=True)
        dispatch_kick(campaign=campaign)
    return campaign


def campaign_pause(*, campaign: Campaign) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if campaign.status not in (*ACTIVE, Campaign.Status.SCHEDULED):
            raise BusinessRuleViolation(
                f"A {campaign.status} campaign cannot be paused.", code="invalid_transition"
            )
        campaign.status = Campaign.Status.PAUSED
        campaign.save(update_fields=["status", "updated_at"])
        _set_control(campaign)
        from campaigns.dispatch import progress_emit

        progress_emit(campaign=campaign, force=True)
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Continue a paused (or automatically stopped) campaign; the auto-stop does not fire again."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if campaign.status not in (Campaign.Status.PAUSED, Campaign.Status.STOPPED):
            raise BusinessRuleViolation(
                f"A {campaign.status} campaign cannot be resumed.", code="invalid_transition"
            )
        if campaign.started_at is None:  # paused while still scheduled
            campaign.status = Campaign.Status.DRAFT
            campaign.save(update_fields=["status"])
            return campaign_start(campaign=campaign)
        if campaign.status == Campaign.Status.STOPPED:
            campaign.is_auto_stop_checked = True
        campaign.status = Campaign.Status.RUNNING
        campaign.save(update_fields=["status", "is_auto_stop_checked", "updated_at"])
        _set_control(campaign)
        from campaigns.dispatch import progress_emit

        progress_emit(campaign=campaign, force=True)
        dispatch_kick(campaign=campaign)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop for good: recipients not yet sent are skipped (a message already with the provider finishes)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
            raise BusinessRuleViolation(
                f"A {campaign.status} campaign cannot be cancelled.", code="invalid_transition"
            )
        campaign.status, campaign.completed_at = Campaign.Status.CANCELLED, timezone.now()
        campaign.save(update_fields=["status", "completed_at", "updated_at"])
        _set_control(campaign)
        pending_recipients_update(
            campaign_id=campaign.id,
            status=Recipient.Status.SKIPPED,
            error_code="cancelled",
            error_title="Campaign cancelled",
        )
        from campaigns.dispatch import progress_emit

        progress_emit(campaign=campaign, force=True)
    return campaign


def campaign_duplicate(*, campaign: Campaign, created_by=None) -> Campaign:
    fields = {name: getattr(campaign, name) for name in EDITABLE_FIELDS if name not in ("name", "channel_id")}
    fields["scheduled_at"] = None
    copy = Campaign(
        name=f"Copy of {campaign.name}"[:200], channel_id=campaign.channel_id, created_by=created_by, **fields
    )
    copy.save()
    return copy
