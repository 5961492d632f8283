"""Contact services: create, update, delete, CSV import and merge."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationFailed
from inbox.models import Contact, ContactIdentity, Conversation

MAX_IMPORT_ROWS = 50_000


def _phone(raw: str) -> str:
    from channels_wa.services import phone_normalize

    return phone_normalize(raw)


def contact_create(
    *,
    phone: str,
    name: str = "",
    tags: list[str] | None = None,
    custom_attributes: dict | None = None,
    is_opted_out: bool = False,
) -> Contact:
    e164 = _phone(phone)
    if Contact.objects.filter(phone=e164).exists():
        raise Conflict(
            "A contact with this phone already exists.", code="contact_exists", details={"phone": e164}
        )
    try:
        return Contact.objects.create(
            phone=e164,
            whatsapp_id=e164.lstrip("+"),
            name=name,
            tags=sorted(set(tags or [])),
            custom_attributes=custom_attributes or {},
            is_opted_out=is_opted_out,
        )
    except IntegrityError as exc:
        raise Conflict("A contact with this WhatsApp number already exists.", code="contact_exists") from exc


def contact_update(*, contact: Contact, **changes) -> Contact:
    if "phone" in changes:
        e164 = _phone(changes.pop("phone"))
        if Contact.objects.filter(phone=e164).exclude(pk=contact.pk).exists():
            raise Conflict("Another contact has this phone.", code="contact_exists", details={"phone": e164})
        contact.phone = e164
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.save()
    return contact


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[dict] = field(default_factory=list)


@dataclass
class ImportRow:
    line: int
    phone: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    is_opted_out: bool = False
    attributes: dict = field(default_factory=dict)
    error: str = ""
    duplicate_of: int | None = None  # an earlier line of the same file with the same phone


def _import_rows(content: bytes):
    """Each data row of the CSV, parsed and normalised (phone in E.164), or with the reason it cannot be."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The CSV must be UTF-8.", code="invalid_csv") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "phone" not in [(name or "").strip().lower() for name in reader.fieldnames]:
        raise ValidationFailed("The CSV needs a header row with a `phone` column.", code="invalid_csv")
    first_line_of: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_IMPORT_ROWS:
            yield ImportRow(line=line, error=f"more than {MAX_IMPORT_ROWS} rows; stopped")
            return
        row = {(key or "").strip().lower(): (value or "").strip() for key, value in row.items() if key}
        parsed = ImportRow(line=line, name=row.pop("name", ""))
        raw_phone = row.pop("phone", "")
        try:
            parsed.phone = _phone(raw_phone)
        except ValidationFailed as exc:
            parsed.phone, parsed.error = raw_phone, exc.message
            yield parsed
            continue
        parsed.tags = [tag.strip() for tag in row.pop("tags", "").split(";") if tag.strip()]
        parsed.is_opted_out = row.pop("opted_out", "").lower() in {"1", "true", "yes"}
        parsed.attributes = {key: value for key, value in row.items() if key and value}
        parsed.duplicate_of = first_line_of.get(parsed.phone)
        first_line_of.setdefault(parsed.phone, line)
        yield parsed


def contact_import_preview(*, content: bytes, limit: int = 200) -> tuple[list[ImportRow], set[str]]:
    """What an import would do, without writing: the parsed rows (the first `limit`) and which of their
    phones already belong to a contact (those rows update it)."""
    rows = []
    for row in _import_rows(content):
        rows.append(row)
        if len(rows) >= limit:
            break
    phones = {row.phone for row in rows if not row.error}
    existing = set(Contact.objects.filter(phone__in=phones).values_list("phone", flat=True))
    return rows, existing


def contact_import_csv(*, content: bytes) -> ImportResult:
    """Rows of phone,name,tags (separated by ;),opted_out and any other column as a custom attribute.
    Existing phones are updated (a phone twice in the file is one contact); a bad row is reported with
    its line number, the others still import."""
    result = ImportResult()
    for row in _import_rows(content):
        if row.error:
            result.errors.append({"line": row.line, "error": row.error})
            continue
        with transaction.atomic():
            contact = Contact.objects.select_for_update().filter(phone=row.phone).first()
            if contact is None:
                Contact.objects.create(
                    phone=row.phone,
                    whatsapp_id=row.phone.lstrip("+"),
                    name=row.name,
                    tags=sorted(set(row.tags)),
                    custom_attributes=row.attributes,
                    is_opted_out=row.is_opted_out,
                )
                result.created += 1
            else:
                contact.name = row.name or contact.name
                contact.tags = sorted(set(contact.tags) | set(row.tags))
                contact.custom_attributes = {**contact.custom_attributes, **row.attributes}
                contact.is_opted_out = contact.is_opted_out or row.is_opted_out
                contact.save()
                result.updated += 1
    return result


def contact_merge(*, source: Contact, target: Contact) -> Contact:
    """Fold `source` into `target`: conversations, tags, attributes and identities move; source goes."""
    if source.pk == target.pk:
        raise ValidationFailed("A contact cannot be merged into itself.", code="same_contact")
    with transaction.atomic():
        for conversation in Conversation.objects.select_for_update().filter(contact=source):
            clash = (
                Conversation.objects.filter(contact=target, channel_id=conversation.channel_id)
                .exclude(status=Conversation.Status.RESOLVED)
                .first()
            )
            if clash is not None and conversation.status != Conversation.Status.RESOLVED:
                conversation.messages.update(conversation=clash)
                conversation.notes.update(conversation=clash)
                conversation.delete()
            else:
                conversation.contact = target
                conversation.save(update_fields=["contact", "updated_at"])
        target.tags = sorted(set(target.tags) | set(source.tags))
        target.custom_attributes = {**source.custom_attributes, **target.custom_attributes}
        target.name = target.name or source.name
        target.profile_name = target.profile_name or source.profile_name
        target.is_opted_out = target.is_opted_out or source.is_opted_out
        identities = {"phone": source.phone, "whatsapp_id": source.whatsapp_id}
        # Every way the person is known (WhatsApp, SMS, Messenger, Instagram) now leads to the target; a
        # WhatsApp id kept only on the contact row (contacts from before identities) is recorded first.
        if source.whatsapp_id:
            ContactIdentity.objects.get_or_create(
                kind=ContactIdentity.Kind.WHATSAPP,
                scope="",
                value=source.whatsapp_id,
                defaults={"contact": source},
            )
        ContactIdentity.objects.filter(contact=source).update(contact=target)
        source.delete()
        for name, value in identities.items():
            if value and not getattr(target, name):
                setattr(target, name, value)
        target.save()
    return target
