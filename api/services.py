from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis.commands.core import Script

from api.models import ApiKey
from api.scopes import ALL_SCOPES
from core.errors import OmniDeskError, ValidationFailed
from core.ratelimit import TOKEN_BUCKET_TAKE_LUA, RateDecision, TokenBucket
from core.redis import get_redis

KEY_PREFIX = "od_live_"
# A key's record (no secret in it) is cached in Redis so a request costs no database round trip;
# every change to a key goes through a service here, which drops the record when it commits.
KEY_RECORD_TTL_S = 300
# Usage counters live in Redis and are added to the key rows by a periodic task (api_key_usage_flush).
USAGE_SCHEMAS = "api:usage-schemas"


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
        api_key_forget(key=key)
    return key


def api_key_forget(*, key: ApiKey) -> None:
    """Drop the cached record after commit, so the next request reads the key's row again."""
    slot = _record_slot(connection.schema_name, key.prefix)
    get_redis().delete(slot)
    transaction.on_commit(lambda: get_redis().delete(slot))  # a request may re-cache it before we commit


def _record_slot(schema: str, prefix: str) -> str:
    return f"api:key:{schema}:{prefix}"


def _usage_slots(schema: str) -> tuple[str, str]:
    return f"api:usage:{schema}", f"api:last-used:{schema}"


def _key_record(key: ApiKey) -> str:
    return json.dumps(
        {
            "id": key.pk,
            "name": key.name,
            "prefix": key.prefix,
            "key_hash": key.key_hash,
            "scopes": key.scopes,
            "allowed_cidrs": key.allowed_cidrs,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            "requires_signature": key.requires_signature,
        }
    )


def _key_from_record(text: str | bytes) -> ApiKey:
    record = json.loads(text)
    for field in ("expires_at", "revoked_at"):
        record[field] = parse_datetime(record[field]) if record[field] else None
    return ApiKey(**record)


def _key_load(prefix: str) -> ApiKey | None:
    """The key's row, cached in Redis for the next requests (a miss for a few seconds, so unknown
    prefixes do not reach the database on every request)."""
    key = ApiKey.objects.filter(prefix=prefix).first()
    slot = _record_slot(connection.schema_name, prefix)
    get_redis().set(slot, _key_record(key) if key else "", ex=KEY_RECORD_TTL_S if key else 5)
    return key


def api_key_usage_record(pipeline, *, key: ApiKey) -> None:
    """Count one use of the key (in the caller's Redis pipeline, so it costs no extra round trip)."""
    schema = connection.schema_name
    counts, last_used = _usage_slots(schema)
    pipeline.hincrby(counts, key.pk, 1)
    pipeline.hset(last_used, key.pk, timezone.now().isoformat())
    pipeline.sadd(USAGE_SCHEMAS, schema)


def api_key_usage_flush(*, schema: str) -> int:
    """Add the counted uses of one company's keys to their rows; returns how many keys changed."""
    redis = get_redis()
    counts_slot, last_used_slot = _usage_slots(schema)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(counts_slot).hgetall(last_used_slot).delete(counts_slot, last_used_slot)
        counts, last_used, _ = pipe.execute()
    try:
        for key_id, count in counts.items():
            used_at = parse_datetime(last_used.get(key_id, b"").decode()) or timezone.now()
            ApiKey.objects.filter(pk=int(key_id)).update(
                usage_count=F("usage_count") + int(count),
                last_used_at=Greatest(F("last_used_at"), used_at),
            )
    except Exception:
        with redis.pipeline() as pipe:  # put the counts back: the next flush adds them
            for key_id, count in counts.items():
                pipe.hincrby(counts_slot, key_id, int(count))
            for key_id, used_at in last_used.items():
                pipe.hsetnx(last_used_slot, key_id, used_at)
            pipe.execute()
        raise
    return len(counts)


def _prefix_of(plaintext: str) -> str:
    parts = plaintext[len(KEY_PREFIX) :].split("_", 1) if plaintext.startswith(KEY_PREFIX) else []
    if len(parts) != 2:
        raise KeyRefused("The API key is malformed: expected od_live_<prefix>_<secret>.")
    return parts[0]


def _key_checked(key: ApiKey | None, *, plaintext: str, client_ip: str) -> ApiKey:
    """The usable key this secret belongs to in the current company, or a refusal saying why."""
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
    if key.requires_signature:
        key = ApiKey.objects.get(pk=key.pk)  # the signing secret is never cached
    return key


DEFAULT_REQUESTS_PER_MINUTE = 60


def requests_per_minute(tenant) -> int:
    """The API rate of a company's plan."""
    plan = getattr(tenant, "plan", None)
    return plan.api_requests_per_minute if plan else DEFAULT_REQUESTS_PER_MINUTE


def rate_limit_bucket(*, identity: str, requests_per_minute: int) -> TokenBucket:
    """The per-minute bucket of one caller (`key:<prefix>` or `user:<id>`) in the current company."""
    return TokenBucket.per_minute(f"api:{connection.schema_name}:{identity}", requests_per_minute)


# One round trip for a request with a key that needs no more than its hash checked (not revoked, no
# expiry, no address allowlist, no signed requests): the cached record is read, the hash
# compared, a token taken and the use counted, all in Redis. Anything else answers 'check' (or 'miss',
# nothing cached) and Python decides (_key_checked), then the caller takes the token.
# KEYS: record, bucket, usage counts, last-used times, schemas with usage.
# ARGV: the secret's hash, capacity, rate per s, now (ISO, for last-used), schema.
_ADMIT_LUA = (
    TOKEN_BUCKET_TAKE_LUA
    + """
local record = redis.call('GET', KEYS[1])
if not record then return {'miss'} end
if record == '' then return {'unknown'} end
local key = cjson.decode(record)
if key.key_hash ~= ARGV[1] then return {'unknown'} end
if key.revoked_at ~= cjson.null or key.expires_at ~= cjson.null or key.requires_signature
  or #key.allowed_cidrs > 0 then
  return {'check', record}
end
local decision = take(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), 1)
redis.call('HINCRBY', KEYS[3], key.id, 1)
redis.call('HSET', KEYS[4], key.id, ARGV[4])
redis.call('SADD', KEYS[5], ARGV[5])
return {'ok', record, decision[1], decision[2]}
"""
)


@lru_cache(maxsize=4)
def _admit_script(client) -> Script:
    return client.register_script(_ADMIT_LUA)


def api_key_admit(
    *, plaintext: str, client_ip: str, requests_per_minute: int
) -> tuple[ApiKey, RateDecision | None]:
    """The usable key this secret belongs to in the current company (or a refusal saying why) and, for a
    plain key, its rate decision and use count from the same Redis round trip: (key, decision), or
    (key, None) when the caller still has to throttle."""
    prefix = _prefix_of(plaintext)
    schema = connection.schema_name
    bucket = rate_limit_bucket(identity=f"key:{prefix}", requests_per_minute=requests_per_minute)
    counts, last_used = _usage_slots(schema)
    answer = _admit_script(get_redis())(
        keys=[_record_slot(schema, prefix), bucket.key, counts, last_used, USAGE_SCHEMAS],
        args=[key_hash(plaintext), bucket.capacity, bucket.rate_per_s, timezone.now().isoformat(), schema],
    )
    outcome = answer[0]
    if outcome == b"ok":
        return _key_from_record(answer[1]), bucket.decision(answer[2], answer[3])
    if outcome == b"unknown":
        raise KeyRefused("The API key is not valid for this company.")
    key = _key_from_record(answer[1]) if outcome == b"check" else _key_load(prefix)  # "miss"
    return _key_checked(key, plaintext=plaintext, client_ip=client_ip), None
