"""WhatsApp message templates as the composer shows them: the variables to fill and the text they make."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _component_text(components: list[dict], component_type: str) -> str:
    for component in components or []:
        if (
            str(component.get("type", "")).upper() == component_type
            and component.get("format", "TEXT") == "TEXT"
        ):
            return component.get("text", "") or ""
    return ""


def template_fields(components: list[dict]) -> dict:
    """{"header": text, "body": text, "header_vars": [...], "body_vars": [...]} for the variables form."""
    header, body = _component_text(components, "HEADER"), _component_text(components, "BODY")
    return {
        "header": header,
        "body": body,
        "header_vars": list(dict.fromkeys(PLACEHOLDER.findall(header))),
        "body_vars": list(dict.fromkeys(PLACEHOLDER.findall(body))),
    }


def template_render(text: str, names: list[str], values: list[str]) -> str:
    mapping = dict(zip(names, values, strict=False))
    return PLACEHOLDER.sub(lambda match: mapping.get(match.group(1), match.group(0)), text)
