"""Contacts: list with search and tag filter, create and edit, CSV import (preview, then import with a
per-row report), CSV export and merge. Import, export, delete and merge are for managers and up."""

from __future__ import annotations

import csv
import secrets
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from channels_wa.services import phone_normalize
from core.errors import OmniDeskError, ValidationFailed
from core.redis import get_redis
from dashboard.selectors import user_sees_everything
from inbox import contacts as contact_services
from inbox.models import Contact

PAGE_SIZE = 50
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_TTL_S = 3600


def managers_only(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not user_sees_everything(request.user):
            return render(request, "dashboard/forbidden.html", {"section": "contacts"}, status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _contact(contact_id: int) -> Contact:
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    contacts = Contact.objects.all()
    search, tag = request.GET.get("q", "").strip()[:100], request.GET.get("tag", "").strip()[:60]
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        condition = Q(name__icontains=search) | Q(profile_name__icontains=search)
        if len(digits) >= 3:
            condition |= Q(phone__contains=digits)
        contacts = contacts.filter(condition)
    if tag:
        contacts = contacts.filter(tags__contains=[tag])
    page = Paginator(contacts.order_by("name", "phone", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT unnest(tags) AS tag FROM inbox_contact ORDER BY tag LIMIT 200")
        all_tags = [row[0] for row in cursor.fetchall()]
    context = {
        "section": "contacts",
        "page": page,
        "search": search,
        "tag": tag,
        "all_tags": all_tags,
        "can_manage": user_sees_everything(request.user),
    }
    return render(request, "dashboard/contacts/list.html", context)


def _form_changes(data) -> dict:
    attributes = {}
    for line in data.get("custom_attributes", "").splitlines():
        if line.strip():
            key, separator, value = line.partition("=")
            if not separator or not key.strip():
                raise ValidationFailed(f"Write attributes as key=value, one per line (not {line!r}).")
            attributes[key.strip()[:60]] = value.strip()
    return {
        "phone": data.get("phone", ""),
        "name": data.get("name", "").strip()[:120],
        "tags": [tag.strip()[:60] for tag in data.get("tags", "").split(",") if tag.strip()],
        "custom_attributes": attributes,
        "is_opted_out": data.get("is_opted_out") == "on",
    }


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            contact = contact_services.contact_create(**_form_changes(request.POST))
        except OmniDeskError as exc:
            return render(
                request,
                "dashboard/contacts/form.html",
                {"section": "contacts", "error": exc.message, "data": request.POST},
                status=exc.status_code,
            )
        messages.success(request, f"{contact} was added.")
        return redirect(f"/contacts/{contact.id}/")
    return render(request, "dashboard/contacts/form.html", {"section": "contacts", "data": {}})


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _contact(contact_id)
    error = ""
    if request.method == "POST":
        try:
            contact_services.contact_update(contact=contact, **_form_changes(request.POST))
            messages.success(request, "Saved.")
            return redirect(f"/contacts/{contact.id}/")
        except OmniDeskError as exc:
            error = exc.message
    context = {
        "section": "contacts",
        "contact": contact,
        "error": error,
        "data": request.POST if error else None,
        "conversations": contact.conversations.select_related("channel").order_by("-last_message_at")[:20],
        "can_manage": user_sees_everything(request.user),
    }
    return render(request, "dashboard/contacts/form.html", context, status=400 if error else 200)


@managers_only
@require_POST
def contact_delete(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _contact(contact_id)
    contact_services.contact_delete(contact=contact)
    messages.success(request, f"{contact} was deleted.")
    return redirect("/contacts/")


@managers_only
@require_POST
def contact_merge(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Merge the contact named in the form (by phone or id) into this one."""
    target = _contact(contact_id)
    other = request.POST.get("other", "").strip()
    source = None
    if other.isdigit() and len(other) < 12:
        source = Contact.objects.filter(pk=int(other)).first()
    if source is None and other:
        try:
            source = Contact.objects.filter(phone=phone_normalize(other)).first()
        except ValidationFailed:
            source = None
    if source is None:
        messages.error(request, "No contact with that phone number or id.")
        return redirect(f"/contacts/{target.id}/")
    try:
        contact_services.contact_merge(source=source, target=target)
    except OmniDeskError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{source} was merged into {target}: conversations, messages and notes moved."
        )
    return redirect(f"/contacts/{target.id}/")


def _import_key(request: HttpRequest, token: str) -> str:
    return f"contacts-import:{connection.schema_name}:{request.user.id}:{token}"


@managers_only
@require_http_methods(["GET", "POST"])
def contact_import(request: HttpRequest) -> HttpResponse:
    """Step 1: upload and see a preview. Step 2 (`token`): import what was previewed."""
    context: dict = {"section": "contacts"}
    if request.method == "POST" and (token := request.POST.get("token")):
        content = get_redis().get(_import_key(request, token))
        if content is None:
            context["error"] = "The preview expired: upload the file again."
        else:
            get_redis().delete(_import_key(request, token))
            context["result"] = contact_services.contact_import_csv(content=content)
    elif request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["error"] = "Choose a CSV file."
        elif upload.size > IMPORT_MAX_BYTES:
            context["error"] = "The file is larger than 5 MB: split it."
        else:
            content = upload.read()
            try:
                rows, existing = contact_services.contact_import_preview(content=content)
            except OmniDeskError as exc:
                context["error"] = exc.message
            else:
                token = secrets.token_urlsafe(16)
                get_redis().set(_import_key(request, token), content, ex=IMPORT_TTL_S)
                context.update(rows=rows, existing=existing, token=token, filename=upload.name)
                context["error_count"] = sum(1 for row in rows if row.error)
    return render(request, "dashboard/contacts/import.html", context)


class _Echo:
    def write(self, value):
        return value


@managers_only
def contact_export(request: HttpRequest) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["phone", "name", "tags", "opted_out", "profile_name", "custom_attributes"])
        for contact in Contact.objects.order_by("id").iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    contact.phone,
                    contact.name,
                    ";".join(contact.tags),
                    "yes" if contact.is_opted_out else "",
                    contact.profile_name,
                    ";".join(f"{key}={value}" for key, value in contact.custom_attributes.items()),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
    return response
