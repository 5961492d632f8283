"""The campaigns dashboard: list, the create wizard, the detail page with live progress. Views parse the
form, call one service and render."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from campaigns import services
from campaigns.api import recipients_csv
from campaigns.audience import audience_count, audience_validate, csv_parse
from campaigns.models import Campaign, Recipient
from campaigns.selectors import (
    campaign_duration_estimate,
    campaign_list,
    campaign_stats,
    recipient_failures,
    recipient_list,
    recipient_row,
)
from channels_wa.models import Channel, Template
from core.errors import OmniDeskError

PAGE_SIZE = 100


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("channel").filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign")
    return campaign


@login_required
def campaign_index(request):
    rows = []
    for campaign in campaign_list()[:200]:
        rows.append((campaign, campaign_stats(campaign=campaign)))
    return render(request, "campaigns/list.html", {"rows": rows, "company": request.tenant})


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _audience_from_post(post, files) -> tuple[dict, list, list]:
    """The wizard's audience step → (audience, csv rows, csv errors)."""
    conditions = []
    for field, op, value in zip(
        post.getlist("cond_field"), post.getlist("cond_op"), post.getlist("cond_value"), strict=False
    ):
        if field.strip():
            conditions.append({"field": field.strip(), "op": op, "value": value})
    audience = {
        "tags": _lines(post.get("tags", "")),
        "segment": {"match": post.get("match", "all"), "conditions": conditions} if conditions else {},
        "phones": _lines(post.get("phones", "")),
    }
    rows, errors = [], []
    upload = files.get("csv_file")
    if upload:
        rows, errors = csv_parse(content=upload.read().decode("utf-8", errors="replace"))
    return audience_validate(audience), rows, errors


def _variables_from_post(post) -> list[dict]:
    return [
        {"source": source, "key": key.strip(), "fallback": fallback}
        for source, key, fallback in zip(
            post.getlist("var_source"), post.getlist("var_key"), post.getlist("var_fallback"), strict=False
        )
        if key.strip()
    ]


def _local_time(value: str, tz: ZoneInfo) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=tz)


@login_required
@require_POST
def audience_preview(request):
    """The wizard's live count: how many recipients and how long at the channel's rate."""
    try:
        audience, rows, errors = _audience_from_post(request.POST, request.FILES)
    except OmniDeskError as exc:
        return JsonResponse(
            {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}, status=400
        )
    count = audience_count(audience=audience, csv_rows=rows)
    channel = Channel.objects.filter(pk=request.POST.get("channel_id") or 0).first()
    estimated_s, pace = campaign_duration_estimate(
        count=count, channel=channel, text=request.POST.get("text", "")
    )
    return JsonResponse(
        {
            "count": count,
            "csv_rows": len(rows),
            "csv_errors": errors[:10],
            "estimated_s": estimated_s,
            "pace": pace,
            "rate_per_s": channel.rate_per_s if channel else None,
        }
    )


@login_required
def campaign_new(request):
    tz = ZoneInfo(request.tenant.timezone or "UTC")
    context = {
        "company": request.tenant,
        "channels": Channel.objects.all(),
        "templates": Template.objects.select_related("channel").order_by("channel_id", "name"),
        "fields": ["first_name", "last_name", "name", "phone", "profile_name"],
        "operators": [
            "eq",
            "neq",
            "contains",
            "startswith",
            "gt",
            "gte",
            "lt",
            "lte",
            "exists",
            "not_exists",
        ],
        "form": request.POST,
    }
    if request.method != "POST":
        return render(request, "campaigns/wizard.html", context)
    post = request.POST
    try:
        audience, rows, csv_errors = _audience_from_post(post, request.FILES)
        channel = Channel.objects.filter(pk=post.get("channel_id") or 0).first()
        if channel is None:
            raise OmniDeskError("Choose a channel.", code="channel_required", status_code=400)
        template_name, _, language = post.get("template", "").partition("|")
        campaign = services.campaign_create(
            name=post.get("name", ""),
            channel=channel,
            created_by=request.user,
            audience=audience,
            audience_csv=rows,
            kind=post.get("kind", "template"),
            template_name=template_name,
            template_language=language,
            template_variables=_variables_from_post(post),
            header_media_link=post.get("header_media_link", ""),
            header_media_kind=post.get("header_media_kind", ""),
            text=post.get("text", ""),
            is_link_tracking=bool(post.get("is_link_tracking")),
            scheduled_at=_local_time(post.get("scheduled_at", ""), tz)
            if post.get("when") == "later"
            else None,
            is_quiet_hours_enabled=bool(post.get("is_quiet_hours_enabled")),
            quiet_hours_start=post.get("quiet_hours_start") or "21:00",
            quiet_hours_end=post.get("quiet_hours_end") or "08:00",
        )
        if post.get("submit") == "start":
            services.campaign_start(campaign=campaign)
    except OmniDeskError as exc:
        context["error"] = exc.message
        return render(request, "campaigns/wizard.html", context, status=400)
    if csv_errors:
        messages.warning(request, f"{len(csv_errors)} CSV row(s) were skipped: not phone numbers.")
    return redirect("campaign-detail", campaign_id=campaign.id)


@login_required
def campaign_detail(request, campaign_id: int):
    campaign = _campaign(campaign_id)
    stats = campaign_stats(campaign=campaign)
    status = request.GET.get("status", "")
    if status not in Recipient.Status.values:
        status = ""
    page = Paginator(recipient_list(campaign=campaign, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    funnel = [
        (label, stats[key])
        for label, key in (
            ("Recipients", "total"),
            ("Sent", "sent"),
            ("Delivered", "delivered"),
            ("Read", "read"),
            ("Replied", "replied"),
            ("Clicked", "clicked"),
        )
    ]
    remaining = stats["queued"] + stats["sending"]
    return render(
        request,
        "campaigns/detail.html",
        {
            "company": request.tenant,
            "campaign": campaign,
            "stats": stats,
            "funnel": funnel,
            "funnel_max": max(stats["total"], 1),
            "failures": [recipient_row(r) for r in recipient_failures(campaign=campaign)],
            "page": page,
            "rows": [recipient_row(r) for r in page.object_list],
            "status_filter": status,
            "statuses": Recipient.Status.choices,
            "estimated_s": campaign_duration_estimate(
                count=remaining, channel=campaign.channel, text=campaign.text
            )[0],
        },
    )


ACTIONS = {
    "start": services.campaign_start,
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "cancel": services.campaign_cancel,
}


@login_required
@require_POST
def campaign_action(request, campaign_id: int, action: str):
    campaign = _campaign(campaign_id)
    try:
        if action == "duplicate":
            copy = services.campaign_duplicate(campaign=campaign, created_by=request.user)
            messages.success(request, "A draft copy was made.")
            return redirect("campaign-detail", campaign_id=copy.id)
        if action not in ACTIONS:
            raise Http404("Unknown action")
        ACTIONS[action](campaign=campaign)
    except OmniDeskError as exc:
        messages.error(request, exc.message)
    return redirect("campaign-detail", campaign_id=campaign.id)


@login_required
def campaign_export(request, campaign_id: int):
    return recipients_csv(_campaign(campaign_id))
