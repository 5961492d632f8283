"""Personalisation: `{{first_name|there}}` in free text and mapped template variables, from contact fields,
custom attributes or the recipient's CSV columns, with fallbacks."""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([\w.\- ]+?)\s*(?:\|\s*([^}]*?))?\s*\}\}")
CONTACT_KEYS = ("first_name", "last_name", "name", "phone", "profile_name")


def contact_value(contact, key: str) -> str:
    full = (contact.name or contact.profile_name or "").strip()
    if key == "first_name":
        return full.split()[0] if full else ""
    if key == "last_name":
        parts = full.split()
        return " ".join(parts[1:]) if len(parts) > 1 else ""
    if key == "name":
        return full
    if key == "phone":
        return contact.phone or (f"+{contact.whatsapp_id}" if contact.whatsapp_id else "")
    if key == "profile_name":
        return contact.profile_name or ""
    return ""


def value_for(*, key: str, contact, variables: dict[str, Any], source: str = "") -> str:
    """A value by name: CSV columns first, then contact fields, then custom attributes."""
    if source == "static":
        return key
    if key.startswith("attributes."):
        value = (contact.custom_attributes or {}).get(key.split(".", 1)[1])
        return "" if value is None else str(value)
    if source in ("", "csv") and key in variables:
        return str(variables[key])
    if source in ("", "field") and key in CONTACT_KEYS:
        return contact_value(contact, key)
    if source in ("", "attribute"):
        value = (contact.custom_attributes or {}).get(key)
        return "" if value is None else str(value)
    return ""


def text_render(text: str, *, contact, variables: dict[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        value = value_for(key=match.group(1), contact=contact, variables=variables)
        return value or (match.group(2) or "")

    return PLACEHOLDER.sub(replace, text)


def template_params(mapping: list[dict[str, Any]], *, contact, variables: dict[str, Any]) -> list[str]:
    """The template's body parameters in order; a missing value uses its fallback (Meta refuses empty
    ones)."""
    params = []
    for item in mapping:
        source, key = item.get("source", ""), str(item.get("key", ""))
        value = value_for(key=key, contact=contact, variables=variables, source=source)
        params.append(value or str(item.get("fallback") or "-"))
    return params
