"""Channels: the list with live status for everyone; owners and admins connect a WhatsApp Cloud number
(then see the webhook URL and verify token to paste into Meta), test it and sync its templates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from channels_wa import services as channels
from channels_wa.models import Channel, Template
from core.errors import OmniDeskError
from dashboard.views_settings import admins_only


def _channel(channel_id: int) -> Channel:
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    context = {
        "section": "channels",
        "channels": Channel.objects.all(),
        "is_admin": request.user.is_company_admin,
    }
    return render(request, "dashboard/channels/list.html", context)


@admins_only
@require_http_methods(["GET", "POST"])
def channel_create(request: HttpRequest) -> HttpResponse:
    data = request.POST
    if request.method == "POST":
        try:
            channel = channels.channel_create(
                provider=Channel.Provider.META_WHATSAPP,
                name=data.get("name", "").strip()[:120] or "WhatsApp",
                external_id=data.get("external_id", "").strip(),
                phone_number=data.get("phone_number", "").strip(),
                account_id=data.get("account_id", "").strip(),
                access_token=data.get("access_token", "").strip(),
                app_secret=data.get("app_secret", "").strip(),
                verify_token=data.get("verify_token", "").strip(),
            )
        except OmniDeskError as exc:
            context = {"section": "channels", "error": exc.message, "data": data}
            return render(request, "dashboard/channels/new.html", context, status=exc.status_code)
        messages.success(request, "Channel added. Paste the webhook URL and verify token into Meta.")
        return redirect(f"/channels/{channel.id}/")
    return render(request, "dashboard/channels/new.html", {"section": "channels", "data": {}})


@login_required
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(channel_id)
    is_admin = request.user.is_company_admin
    context = {
        "section": "channels",
        "channel": channel,
        "is_admin": is_admin,
        "webhook_url": channels.channel_webhook_url(channel=channel),
        # The verify token is shown to admins because Meta needs it; the access token and app secret never.
        "verify_token": channel.verify_token if is_admin else "",
        "templates": Template.objects.filter(channel=channel).order_by("name", "language"),
    }
    return render(request, "dashboard/channels/detail.html", context)


@admins_only
@require_POST
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    is_ok, message = channels.channel_test_connection(channel=_channel(channel_id))
    (messages.success if is_ok else messages.error)(request, message)
    return redirect(f"/channels/{channel_id}/")


@admins_only
@require_POST
def channel_sync_templates(request: HttpRequest, channel_id: int) -> HttpResponse:
    try:
        count = channels.template_sync(channel=_channel(channel_id))
    except OmniDeskError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} templates synced.")
    return redirect(f"/channels/{channel_id}/")
