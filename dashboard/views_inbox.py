"""The inbox: one page, and the fragments and actions its script calls. Every view checks that the
conversation is visible to the signed-in user (404 otherwise) and calls one inbox service."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Department, User
from channels_wa.models import Channel, Template
from channels_wa.providers import base
from core.errors import BusinessRuleViolation, OmniDeskError, ValidationFailed, json_error
from dashboard import selectors
from dashboard.templating import template_fields, template_render
from inbox import services as inbox
from inbox.models import Conversation, Label, Message, QuickReply

MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024


def is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def filters_from(params) -> selectors.InboxFilters:
    status = params.get("status", "open")
    view = params.get("view", "all")
    return selectors.InboxFilters(
        view=view if view in selectors.VIEWS else "all",
        status=status if status in Conversation.Status.values else "",
        assignee_id=_int(params.get("assignee")),
        channel_id=_int(params.get("channel")),
        department_id=_int(params.get("department")),
        label_id=_int(params.get("label")),
        search=params.get("q", "").strip()[:100],
    )


def _visible(request: HttpRequest, conversation_id: int, *, bare: bool = False) -> Conversation:
    """The conversation if this user may see it (404 otherwise); `bare` skips the related rows."""
    if bare:
        conversation = selectors.conversations_visible_to(request.user).filter(pk=conversation_id).first()
    else:
        conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def _conversation_context(request, conversation: Conversation) -> dict:
    quick_replies = list(QuickReply.objects.values("shortcut", "body"))
    return {
        "conversation": conversation,
        "window_open": selectors.window_is_open(conversation),
        "thread": selectors.thread_page(conversation=conversation),
        "previous": selectors.previous_conversations(user=request.user, conversation=conversation),
        "agents": User.objects.filter(is_active=True).only("id", "name", "email"),
        "departments": Department.objects.all(),
        "priorities": Conversation.Priority.choices,
        "quick_replies": quick_replies,
    }


@login_required
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    filters = filters_from(request.GET)
    page = selectors.conversation_page(user=request.user, filters=filters)
    context = {
        "filters": filters,
        "page": page,
        "counts": selectors.sidebar_counts(user=request.user),
        "channels": Channel.objects.all(),
        "departments": Department.objects.all(),
        "labels": Label.objects.all(),
        "agents": User.objects.filter(is_active=True).only("id", "name", "email"),
        "statuses": Conversation.Status.choices,
        "company": request.tenant,
        "section": "inbox",
    }
    selected = _int(request.GET.get("c"))
    if selected is not None:
        conversation = _visible(request, selected)
        context.update(_conversation_context(request, conversation))
    return render(request, "dashboard/inbox.html", context)


@login_required
@require_GET
def conversation_rows(request: HttpRequest) -> HttpResponse:
    """The list's rows as HTML: a page (`cursor` for the next one) or the rows `ids` names."""
    if ids_text := request.GET.get("ids"):
        ids = [value for value in (_int(part) for part in ids_text.split(",")) if value is not None]
        rows = selectors.conversation_rows(user=request.user, ids=ids, filters=filters_from(request.GET))
        next_cursor = ""
    else:
        cursor = selectors.Cursor.decode(request.GET.get("cursor", "")) if request.GET.get("cursor") else None
        page = selectors.conversation_page(
            user=request.user, filters=filters_from(request.GET), cursor=cursor
        )
        rows, next_cursor = page.rows, page.next_cursor
    html = render_to_string("dashboard/_rows.html", {"rows": rows, "user": request.user}, request=request)
    response = HttpResponse(html)
    response["X-Next-Cursor"] = next_cursor
    return response


@login_required
@require_GET
def counts(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.sidebar_counts(user=request.user))


@login_required
@require_GET
def conversation_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The thread column (header, messages, composer) and the contact panel of one conversation."""
    conversation = _visible(request, conversation_id)
    if not is_fetch(request):
        return redirect(f"/?c={conversation.id}")
    context = _conversation_context(request, conversation)
    return render(request, "dashboard/_conversation.html", context)


@login_required
@require_GET
def thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Messages before (`before`) or after (`after`) a message id, as HTML."""
    conversation = _visible(request, conversation_id, bare=True)
    page = selectors.thread_page(
        conversation=conversation,
        before_id=_int(request.GET.get("before")),
        after_id=_int(request.GET.get("after")),
    )
    response = render(request, "dashboard/_thread_items.html", {"items": page.items})
    response["X-Has-Older"] = "1" if page.has_older else "0"
    return response


@login_required
@require_GET
def message_fragment(request: HttpRequest, message_id: int) -> HttpResponse:
    """One message, re-rendered when its status changes."""
    message = Message.objects.select_related("sender_user").filter(pk=message_id).first()
    if (
        message is None
        or selectors.conversation_for(user=request.user, conversation_id=message.conversation_id) is None
    ):
        raise Http404("No such message.")
    item = selectors.ThreadItem("message", message.created_at, message)
    return render(request, "dashboard/_thread_items.html", {"items": [item], "no_separators": True})


@login_required
@require_GET
def media(request: HttpRequest, message_id: int) -> FileResponse:
    message = Message.objects.filter(pk=message_id).first()
    if (
        message is None
        or not message.media_file
        or selectors.conversation_for(user=request.user, conversation_id=message.conversation_id) is None
    ):
        raise Http404("No such file.")
    filename = (message.payload or {}).get("media", {}).get("filename") or message.media_file.name.rsplit(
        "/", 1
    )[-1]
    response = FileResponse(
        message.media_file.open("rb"),
        content_type=message.media_mime_type or "application/octet-stream",
        as_attachment=message.kind == base.DOCUMENT,
        filename=filename,
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _done(request: HttpRequest, conversation: Conversation, data: dict | None = None, status: int = 200):
    if is_fetch(request):
        return JsonResponse({"ok": True, "conversation_id": conversation.id, **(data or {})}, status=status)
    return redirect(f"/?c={conversation.id}")


def _failed(request: HttpRequest, conversation: Conversation, exc: OmniDeskError):
    if is_fetch(request):
        return json_error(exc.code, exc.message, exc.status_code, exc.details)
    from django.contrib import messages

    messages.error(request, exc.message)
    return redirect(f"/?c={conversation.id}")


def _attachment_kind(mime_type: str) -> str:
    for prefix, kind in (("image/", base.IMAGE), ("video/", base.VIDEO), ("audio/", base.AUDIO)):
        if mime_type.startswith(prefix):
            return kind
    return base.DOCUMENT


def _template_payload(conversation: Conversation, data) -> tuple[str, dict]:
    template = Template.objects.filter(
        channel_id=conversation.channel_id, pk=_int(data.get("template_id"))
    ).first()
    if template is None or not template.is_approved:
        raise ValidationFailed("Pick an approved template of this channel.", code="template_required")
    fields = template_fields(template.components)
    header_values = [data.get(f"header_{name}", "").strip() for name in fields["header_vars"]]
    body_values = [data.get(f"body_{name}", "").strip() for name in fields["body_vars"]]
    if not all(header_values + body_values):
        raise ValidationFailed("Fill in every variable of the template.", code="template_variables_missing")
    payload = {
        "name": template.name,
        "language": template.language,
        "header_params": header_values,
        "body_params": body_values,
    }
    return template_render(fields["body"], fields["body_vars"], body_values), payload


@login_required
@require_POST
def send(request: HttpRequest, conversation_id: int):
    """Reply with text, an attachment (with the text as caption) or an approved template."""
    conversation = _visible(request, conversation_id)
    data = request.POST
    try:
        if data.get("template_id"):
            text, payload = _template_payload(conversation, data)
            kind = base.TEMPLATE
        elif upload := request.FILES.get("attachment"):
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise ValidationFailed("Attachments are limited to 16 MB.", code="attachment_too_large")
            if not selectors.window_is_open(conversation):  # refuse before uploading anything
                raise BusinessRuleViolation(
                    "The 24-hour window is closed: only an approved template can be sent.",
                    code="window_closed",
                )
            from channels_wa.services import media_upload

            mime_type = upload.content_type or "application/octet-stream"
            media_id = media_upload(
                channel=conversation.channel, content=upload.read(), mime_type=mime_type, filename=upload.name
            )
            kind, text = _attachment_kind(mime_type), data.get("text", "")
            payload = {"media_id": media_id, "filename": upload.name}
        else:
            kind, text, payload = base.TEXT, data.get("text", ""), None
        message = inbox.message_send(
            conversation=conversation, kind=kind, text=text, payload=payload, sender_user=request.user
        )
    except OmniDeskError as exc:
        return _failed(request, conversation, exc)
    return _done(request, conversation, {"message_id": message.id}, status=201)


@login_required
@require_POST
def note(request: HttpRequest, conversation_id: int):
    conversation = _visible(request, conversation_id)
    try:
        created = inbox.note_create(
            conversation=conversation, author=request.user, body=request.POST.get("body", "")
        )
    except OmniDeskError as exc:
        return _failed(request, conversation, exc)
    if is_fetch(request):
        item = selectors.ThreadItem("note", created.created_at, created)
        return render(
            request, "dashboard/_thread_items.html", {"items": [item], "no_separators": True}, status=201
        )
    return _done(request, conversation)


def _snooze_until(value: str) -> datetime:
    parsed = parse_datetime(value or "")
    if parsed is None:
        raise ValidationFailed("Pick when the conversation should wake up.", code="snooze_until_required")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    if parsed <= timezone.now():
        raise ValidationFailed("The wake-up time must be in the future.", code="snooze_in_past")
    return parsed


@login_required
@require_POST
def action(request: HttpRequest, conversation_id: int):
    """Assign, move to a department, resolve, reopen, snooze, label, prioritise: one service call."""
    conversation = _visible(request, conversation_id)
    data = request.POST
    name = data.get("action", "")
    try:
        if name == "assign_me":
            changes = {"assignee_id": request.user.id}
        elif name == "assign":
            changes = {"assignee_id": _int(data.get("assignee"))}
        elif name == "department":
            changes = {"department_id": _int(data.get("department"))}
        elif name in ("resolve", "reopen"):
            changes = {"status": "resolved" if name == "resolve" else "open"}
        elif name == "snooze":
            changes = {"status": "snoozed", "snoozed_until": _snooze_until(data.get("until", ""))}
        elif name == "priority":
            if data.get("priority") not in Conversation.Priority.values:
                raise ValidationFailed("Unknown priority.", code="invalid_priority")
            changes = {"priority": data["priority"]}
        elif name == "labels":
            names = [part.strip()[:60] for part in data.get("labels", "").split(",") if part.strip()]
            changes = {"labels": sorted(set(names))}
        else:
            raise ValidationFailed(f"Unknown action {name!r}.", code="unknown_action")
        inbox.conversation_update(conversation=conversation, **changes)
    except OmniDeskError as exc:
        return _failed(request, conversation, exc)
    return _done(request, conversation)


@login_required
@require_POST
def mark_read(request: HttpRequest, conversation_id: int):
    conversation = _visible(request, conversation_id)
    if conversation.unread_count:
        inbox.conversation_mark_read(conversation=conversation)
    return _done(request, conversation)


@login_required
@require_GET
def templates_for(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """The approved templates of the conversation's channel, with the variables each needs."""
    conversation = _visible(request, conversation_id)
    results = []
    for template in Template.objects.filter(channel_id=conversation.channel_id).order_by("name"):
        if template.is_approved:
            results.append(
                {
                    "id": template.id,
                    "name": template.name,
                    "language": template.language,
                    **template_fields(template.components),
                }
            )
    return JsonResponse({"results": results})
