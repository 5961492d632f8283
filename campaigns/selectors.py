from __future__ import annotations

import math

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, QuerySet

from campaigns.models import Campaign, Recipient
from channels_wa.models import Channel
from channels_wa.pacing import send_rate_per_s

FAILED = Q(status=Recipient.Status.FAILED) | Q(status=Recipient.Status.SENT, message__status="failed")


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("channel")


def campaign_stats(*, campaign: Campaign) -> dict:
    """The funnel: queued, sent, delivered, read, replied, failed (by reason), clicked, opted out."""
    S = Recipient.Status
    rows = Recipient.objects.filter(campaign=campaign)
    totals = rows.aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status=S.PENDING)),
        sending=Count("id", filter=Q(status=S.SENDING)),
        sent=Count("id", filter=Q(status=S.SENT) & ~Q(message__status="failed")),
        delivered=Count("id", filter=Q(status=S.SENT, message__status__in=["delivered", "read"])),
        read=Count("id", filter=Q(status=S.SENT, message__status="read")),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        failed=Count("id", filter=FAILED),
        unknown=Count("id", filter=Q(status=S.UNKNOWN)),
        skipped=Count("id", filter=Q(status=S.SKIPPED)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        opted_out=Count("id", filter=Q(opted_out_at__isnull=False)),
    )
    reasons: dict[str, int] = {}
    if totals["failed"]:
        for row in (
            rows.filter(FAILED)
            .values("error_code", "message__error_code")
            .annotate(n=Count("id"))
            .order_by("-n")
        ):
            code = row["error_code"] or row["message__error_code"] or "unknown"
            reasons[code] = reasons.get(code, 0) + row["n"]
    totals["failed_by_reason"] = reasons
    return totals


def recipient_failures(*, campaign: Campaign, limit: int = 50) -> QuerySet[Recipient]:
    return (
        Recipient.objects.filter(campaign=campaign)
        .filter(FAILED | Q(status=Recipient.Status.UNKNOWN))
        .select_related("contact", "message")[:limit]
    )


def recipient_list(*, campaign: Campaign, status: str = "") -> QuerySet[Recipient]:
    rows = Recipient.objects.filter(campaign=campaign).select_related("contact", "message").order_by("id")
    if status:
        rows = rows.filter(status=status)
    return rows


def recipient_row(recipient: Recipient) -> dict:
    message = recipient.message
    failed_async = message is not None and message.status == "failed" and recipient.status == "sent"
    return {
        "id": recipient.id,
        "contact_id": recipient.contact_id,
        "name": recipient.contact.display_name if recipient.contact_id else "",
        "phone": recipient.phone,
        "status": "failed" if failed_async else recipient.status,
        "message_status": message.status if message else "",
        "error_code": recipient.error_code or (message.error_code if message else ""),
        "error_title": recipient.error_title or (message.error_title if message else ""),
        "attempts": recipient.attempts,
        "sent_at": recipient.sent_at.isoformat() if recipient.sent_at else None,
        "delivered_at": message.delivered_at.isoformat() if message and message.delivered_at else None,
        "read_at": message.read_at.isoformat() if message and message.read_at else None,
        "replied_at": recipient.replied_at.isoformat() if recipient.replied_at else None,
        "clicked_at": recipient.clicked_at.isoformat() if recipient.clicked_at else None,
        "clicks": recipient.click_count,
        "opted_out_at": recipient.opted_out_at.isoformat() if recipient.opted_out_at else None,
    }


def campaign_duration_estimate(*, count: int, channel: Channel | None, text: str = "") -> tuple[int, str]:
    """(seconds, how the channel paces): a QR-session number goes at its human pace (a gap of seconds,
    typing, a daily cap, quiet hours), every other channel at its rate per second."""
    if channel is None or not count:
        return 0, ""
    if channel.provider == Channel.Provider.QR_SESSION:
        from channels_wa.providers.qr_session.services import qr_pacing_estimate

        try:
            estimate = qr_pacing_estimate(
                channel=channel, recipients=count, average_text_length=len(text) or 80
            )
        except ObjectDoesNotExist:
            pass
        else:
            days = f" over {estimate.days} days (daily cap)" if estimate.days > 1 else ""
            return math.ceil(estimate.duration_s), (
                f"about {estimate.per_message_s:.0f} s a message, as a person would{days}"
            )
    rate = send_rate_per_s(channel=channel)
    return math.ceil(count / rate), f"{rate:g} msg/s"
