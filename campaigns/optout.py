"""Opt-out by keyword: a customer who writes STOP (or UNSUBSCRIBE, or the company's own keyword, defaults
in English, Spanish, Portuguese and Indonesian) is opted out of campaigns and told so. Any other reply
(STOP included) counts as a reply to the last campaign message the contact got."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from campaigns.models import OptOutSettings, Recipient
from inbox.models import Contact, Message

DEFAULT_KEYWORDS = frozenset(
    {
        # English
        "STOP", "UNSUBSCRIBE", "STOPALL", "OPTOUT", "OPT OUT", "END", "QUIT",
        # Spanish
        "BAJA", "DARSE DE BAJA", "PARAR", "DETENER", "CANCELAR SUSCRIPCION",
        # Portuguese
        "SAIR", "DESCADASTRAR", "CANCELAR INSCRICAO", "PARE",
        # Indonesian
        "BERHENTI", "BERHENTI LANGGANAN", "KELUAR",
    }
)  # fmt: skip
REPLY_ATTRIBUTION = timedelta(days=3)
_NOT_WORD = re.compile(r"[^\w ]+")


def opt_out_settings() -> OptOutSettings:
    return OptOutSettings.objects.first() or OptOutSettings.objects.create()


def _normalize(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(_NOT_WORD.sub(" ", plain).upper().split())


def is_opt_out_keyword(text: str, *, extra: list[str] = ()) -> bool:
    normalized = _normalize(text)
    return bool(normalized) and (
        normalized in DEFAULT_KEYWORDS or normalized in {_normalize(k) for k in extra}
    )


def contact_opt_out(*, contact: Contact) -> Contact:
    """Mark the contact opted out; campaigns it is in skip it from now on."""
    from inbox.events import emit_contact

    now = timezone.now()
    with transaction.atomic():
        if not contact.is_opted_out:
            contact.is_opted_out = True
            contact.save(update_fields=["is_opted_out", "updated_at"])
            emit_contact("contact.updated", contact)
        Recipient.objects.filter(contact=contact, opted_out_at=None).exclude(sent_at=None).update(
            opted_out_at=now
        )
    return contact


def inbound_message_observe(
    *, message: Message, contact: Contact, is_opted_out_by_provider: bool = False
) -> None:
    """Called by the inbox for every stored customer message (inside its transaction).
    `is_opted_out_by_provider`: the provider (Twilio on SMS) already handled STOP and confirmed it to
    the customer, and will refuse anything we send; we record the opt-out without a confirmation."""
    latest = (
        Recipient.objects.filter(
            contact=contact, sent_at__gte=timezone.now() - REPLY_ATTRIBUTION, replied_at=None
        )
        .order_by("-sent_at")
        .values_list("id", flat=True)[:1]
    )
    Recipient.objects.filter(id__in=list(latest)).update(replied_at=timezone.now())
    if message.kind in ("text", "button", "interactive"):
        settings_row = opt_out_settings()
        if is_opted_out_by_provider or is_opt_out_keyword(message.body, extra=settings_row.extra_keywords):
            contact_opt_out(contact=contact)
            if is_opted_out_by_provider:
                return
            from inbox.services import message_send

            message_send(
                conversation=message.conversation,
                text=settings_row.confirmation_text,
                sender_kind=Message.SenderKind.AUTOMATION,
            )
