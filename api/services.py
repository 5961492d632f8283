from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from api.models import ApiKey
from api.scopes import ALL_SCOPES
from core.errors import OmniDeskError, ValidationFailed

KEY_PREFIX = "od_live_"


class KeyRefused(OmniDeskError):
    status_code = 401
    code = "invalid_api_key"


class AddressRefused(OmniDeskError):
    status_code = 403
    code = "ip_not_allowed"


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str  # shown once, never stored
    signing_secret: str  # shown once when the key requires signed requests


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    allowed_cidrs: list[str] | None = None,
    requires_signature: bool = False,
    created_by=None,
) -> IssuedKey:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}.",
            code="unknown_scope",
            details={"unknown": unknown, "known": list(ALL_SCOPES)},
        )
    cidrs = []
    for cidr in allowed_cidrs or []:
        try:
            cidrs.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError as exc:
            raise ValidationFailed(f"{cidr!r} is not an IP network.", code="invalid_cidr") from exc
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_hex(24)}"
    signing_secret = secrets.token_hex(32) if requires_signature else ""
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=key_hash(plaintext),
        scopes=sorted(set(scopes)),
        allowed_cidrs=cidrs,
        expires_at=expires_at,
        requires_signature=requires_signature,
        signing_secret=signing_secret,
        created_by=created_by,
    )
    return IssuedKey(key=key, plaintext=plaintext, signing_secret=signing_secret)


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(*, plaintext: str, client_ip: str) -> ApiKey:
    """The usable key this secret belongs to in the current company, or a refusal saying why."""
    parts = plaintext[len(KEY_PREFIX) :].split("_", 1) if plaintext.startswith(KEY_PREFIX) else []
    if len(parts) != 2:
        raise KeyRefused("The API key is malformed: expected od_live_<prefix>_<secret>.")
    key = ApiKey.objects.filter(prefix=parts[0]).first()
    if key is None or not hmac.compare_digest(key.key_hash, key_hash(plaintext)):
        raise KeyRefused("The API key is not valid for this company.")
    if key.revoked_at is not None:
        raise KeyRefused("This API key has been revoked.", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise KeyRefused("This API key has expired.", code="api_key_expired")
    if key.allowed_cidrs:
        address = ipaddress.ip_address(client_ip)
        if not any(address in ipaddress.ip_network(cidr) for cidr in key.allowed_cidrs):
            raise AddressRefused(f"Requests from {client_ip} are not allowed for this key.")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now(), usage_count=F("usage_count") + 1)
    return key
