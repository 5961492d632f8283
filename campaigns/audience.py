"""Who a campaign goes to: tags, a segment of conditions on contact fields and custom attributes, an
uploaded CSV (with per-recipient variables) or an explicit list. Opted-out contacts never count, and a
phone number is only ever in a campaign once."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, NullIf

from campaigns.models import Campaign, Recipient
from core.errors import ValidationFailed
from inbox.models import Contact

CONTACT_FIELDS = ("name", "phone", "profile_name", "tags", "created_at")
OPERATORS = ("eq", "neq", "contains", "startswith", "gt", "gte", "lt", "lte", "in", "exists", "not_exists")
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,60}$")
PHONE_COLUMNS = ("phone", "phone_number", "mobile", "whatsapp", "number", "to")
MAX_CSV_ROWS = 200_000


def _condition_q(condition: dict[str, Any]) -> Q:
    if not isinstance(condition, dict):
        raise ValidationFailed("Each segment condition is an object.", code="invalid_segment")
    field, op, value = condition.get("field", ""), condition.get("op", "eq"), condition.get("value")
    if op not in OPERATORS:
        raise ValidationFailed(
            f"Unknown operator {op!r}.", code="invalid_segment", details={"operators": list(OPERATORS)}
        )
    if isinstance(field, str) and field.startswith("attributes."):
        key = field.split(".", 1)[1]
        if not ATTRIBUTE_KEY.match(key):
            raise ValidationFailed(f"Bad attribute name {key!r}.", code="invalid_segment")
        if op in ("exists", "not_exists"):
            q = Q(custom_attributes__has_key=key)
            return q if op == "exists" else ~q
        path = f"custom_attributes__{key}"
    elif field in CONTACT_FIELDS:
        path = field
    else:
        raise ValidationFailed(
            f"Unknown segment field {field!r}.",
            code="invalid_segment",
            details={"fields": [*CONTACT_FIELDS, "attributes.<name>"]},
        )
    if field == "tags":
        if op in ("eq", "contains"):
            return Q(tags__contains=[str(value)])
        if op == "neq":
            return ~Q(tags__contains=[str(value)])
        if op == "in":
            return Q(tags__overlap=[str(v) for v in (value or [])])
        if op in ("exists", "not_exists"):
            return ~Q(tags=[]) if op == "exists" else Q(tags=[])
        raise ValidationFailed(f"Tags do not support {op!r}.", code="invalid_segment")
    if op == "exists":
        return ~Q(**{path: ""}) & Q(**{f"{path}__isnull": False})
    if op == "not_exists":
        return Q(**{path: ""}) | Q(**{f"{path}__isnull": True})
    if op == "eq":
        return Q(**{path: value})
    if op == "neq":
        return ~Q(**{path: value})
    if op == "contains":
        return Q(**{f"{path}__icontains": value})
    if op == "startswith":
        return Q(**{f"{path}__istartswith": value})
    if op == "in":
        if not isinstance(value, list):
            raise ValidationFailed("'in' needs a list of values.", code="invalid_segment")
        return Q(**{f"{path}__in": value})
    return Q(**{f"{path}__{op}": value})


def audience_validate(audience: dict[str, Any]) -> dict[str, Any]:
    """The audience in its stored shape, or a ValidationFailed naming what is wrong."""
    if not isinstance(audience, dict):
        raise ValidationFailed("The audience is an object.", code="invalid_audience")
    unknown = set(audience) - {"tags", "segment", "contact_ids", "phones"}
    if unknown:
        raise ValidationFailed(
            f"Unknown audience keys: {', '.join(sorted(unknown))}.", code="invalid_audience"
        )
    segment = audience.get("segment") or {}
    if isinstance(segment, list):
        segment = {"match": "all", "conditions": segment}
    if segment and segment.get("match", "all") not in ("all", "any"):
        raise ValidationFailed("segment.match is 'all' or 'any'.", code="invalid_segment")
    clean = {
        "tags": [str(t) for t in audience.get("tags") or []],
        "segment": {"match": segment.get("match", "all"), "conditions": list(segment.get("conditions") or [])}
        if segment
        else {},
        "contact_ids": [int(i) for i in audience.get("contact_ids") or []],
        "phones": [_normalize(p) for p in audience.get("phones") or []],
    }
    _source_q(clean)  # the conditions must compile
    return clean


def _normalize(raw: str) -> str:
    from channels_wa.services import phone_normalize

    return phone_normalize(str(raw).strip())


def _source_q(audience: dict[str, Any]) -> Q | None:
    parts: list[Q] = []
    if audience.get("tags"):
        parts.append(Q(tags__overlap=audience["tags"]))
    segment = audience.get("segment") or {}
    conditions = [_condition_q(c) for c in segment.get("conditions") or []]
    if conditions:
        combined = conditions[0]
        for q in conditions[1:]:
            combined = combined | q if segment.get("match") == "any" else combined & q
        parts.append(combined)
    if audience.get("contact_ids"):
        parts.append(Q(id__in=audience["contact_ids"]))
    if audience.get("phones"):
        digits = [p.lstrip("+") for p in audience["phones"]]
        parts.append(Q(phone__in=audience["phones"]) | Q(whatsapp_id__in=digits))
    if not parts:
        return None
    result = parts[0]
    for q in parts[1:]:
        result |= q
    return result


def audience_contacts(audience: dict[str, Any]) -> QuerySet[Contact]:
    """The contacts the audience selects (opted-out ones never), each annotated with the phone to use."""
    q = _source_q(audience)
    if q is None:  # an audience that names nobody selects nobody (never "everyone")
        q = Q(pk__in=[])
    return (
        Contact.objects.filter(q, is_opted_out=False)
        .exclude(phone="", whatsapp_id="")
        .annotate(
            recipient_phone=Coalesce(NullIf(F("phone"), Value("")), Concat(Value("+"), F("whatsapp_id")))
        )
    )


def csv_parse(*, content: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """CSV text → (rows, errors). A phone column is required; `name` names new contacts; every other
    column becomes a variable of that recipient."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    columns = [c.strip() for c in reader.fieldnames or []]
    lowered = {c.lower(): c for c in columns}
    phone_column = next((lowered[c] for c in PHONE_COLUMNS if c in lowered), None)
    if phone_column is None:
        raise ValidationFailed(
            "The CSV needs a phone column.", code="csv_no_phone", details={"columns": columns}
        )
    rows, errors, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_CSV_ROWS:
            raise ValidationFailed(f"At most {MAX_CSV_ROWS} rows per CSV.", code="csv_too_large")
        record = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        try:
            phone = _normalize(record.get(phone_column, ""))
        except ValidationFailed as exc:
            if len(errors) < 50:
                errors.append({"line": line, "error": exc.message})
            continue
        if phone in seen:
            continue
        seen.add(phone)
        name = record.get(lowered.get("name", ""), "")
        variables = {k: v for k, v in record.items() if k and k != phone_column}
        rows.append({"phone": phone, "name": name, "vars": variables})
    return rows, errors


def audience_count(*, audience: dict[str, Any], csv_rows: list[dict[str, Any]] | None = None) -> int:
    """How many recipients the campaign would have now (the preview before sending)."""
    query_phones = audience_contacts(audience).values("recipient_phone").distinct()
    total = query_phones.count()
    csv_phones = {row["phone"] for row in _listed_rows(audience, csv_rows)}
    if csv_phones:
        digits = [p.lstrip("+") for p in csv_phones]
        opted_out = set(
            Contact.objects.filter(Q(phone__in=csv_phones) | Q(whatsapp_id__in=digits), is_opted_out=True)
            .annotate(p=Coalesce(NullIf(F("phone"), Value("")), Concat(Value("+"), F("whatsapp_id"))))
            .values_list("p", flat=True)
        )
        already = set(
            query_phones.filter(recipient_phone__in=csv_phones).values_list("recipient_phone", flat=True)
        )
        total += len(csv_phones - opted_out - already)
    return total


def _listed_rows(audience: dict[str, Any], csv_rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """CSV rows, then the explicit phone list: numbers that are not contacts yet become contacts."""
    listed = [{"phone": phone, "name": "", "vars": {}} for phone in audience.get("phones") or []]
    return [*(csv_rows or []), *listed]


def _csv_contacts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """phone → contact id for the CSV's phones, creating the contacts that do not exist yet."""
    phones = [row["phone"] for row in rows]
    found: dict[str, int] = {}
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        digits = [p.lstrip("+") for p in chunk]
        for cid, phone, wa_id in Contact.objects.filter(
            Q(phone__in=chunk) | Q(whatsapp_id__in=digits)
        ).values_list("id", "phone", "whatsapp_id"):
            found.setdefault(phone or f"+{wa_id}", cid)
            if wa_id:
                found.setdefault(f"+{wa_id}", cid)
    missing = [row for row in rows if row["phone"] not in found]
    if missing:
        Contact.objects.bulk_create(
            [
                Contact(phone=r["phone"], whatsapp_id=r["phone"].lstrip("+"), name=r["name"][:120])
                for r in missing
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
        for cid, phone in Contact.objects.filter(phone__in=[r["phone"] for r in missing]).values_list(
            "id", "phone"
        ):
            found.setdefault(phone, cid)
    return found


def recipients_create(*, campaign: Campaign) -> int:
    """Create every recipient row in bulk (INSERT … SELECT for queried contacts): CSV rows first, so
    their variables win; a phone already in the campaign is skipped. Returns the campaign's total."""
    listed = _listed_rows(campaign.audience, campaign.audience_csv)
    with transaction.atomic():
        if listed:
            contact_ids = _csv_contacts(listed)
            opted_out = set(
                Contact.objects.filter(id__in=list(contact_ids.values()), is_opted_out=True).values_list(
                    "id", flat=True
                )
            )
            Recipient.objects.bulk_create(
                [
                    Recipient(
                        campaign=campaign,
                        contact_id=contact_ids[row["phone"]],
                        phone=row["phone"],
                        variables=row["vars"],
                    )
                    for row in listed
                    if row["phone"] in contact_ids and contact_ids[row["phone"]] not in opted_out
                ],
                batch_size=5000,
                ignore_conflicts=True,
            )
        queryset = audience_contacts(campaign.audience).order_by().values_list("id", "recipient_phone")
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO campaigns_recipient (campaign_id, contact_id, phone, variables, status,"
                " attempts, claimed_by, error_code, error_title, click_count)"
                f" SELECT %s, src.id, src.phone, '{{}}'::jsonb, 'pending', 0, '', '', '', 0"
                f" FROM ({sql}) AS src(id, phone) ON CONFLICT DO NOTHING",
                [campaign.id, *params],
            )
    return Recipient.objects.filter(campaign=campaign).count()
