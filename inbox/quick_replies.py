"""Quick replies: canned answers staff insert in the composer by typing / and the shortcut."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core.errors import Conflict, ValidationFailed
from inbox.models import QuickReply


def _clean(shortcut: str, body: str) -> tuple[str, str]:
    slug = slugify(shortcut.lstrip("/"))[:40]
    if not slug:
        raise ValidationFailed(
            "A quick reply needs a shortcut (letters, digits, dashes).", code="shortcut_required"
        )
    if not body.strip():
        raise ValidationFailed("A quick reply needs a text.", code="body_required")
    return slug, body.strip()


def quick_reply_save(*, shortcut: str, body: str, quick_reply: QuickReply | None = None) -> QuickReply:
    slug, text = _clean(shortcut, body)
    quick_reply = quick_reply or QuickReply()
    quick_reply.shortcut, quick_reply.body = slug, text
    try:
        with transaction.atomic():
            quick_reply.save()
    except IntegrityError as exc:
        raise Conflict(f"/{slug} already exists.", code="shortcut_taken") from exc
    return quick_reply


def quick_reply_delete(*, quick_reply: QuickReply) -> None:
    quick_reply.delete()
