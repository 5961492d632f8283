from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field

from django.db import connection
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from api.models import ApiKey
from api.services import api_key_admit, requests_per_minute
from core.errors import OmniDeskError
from core.redis import get_redis

SIGNATURE_MAX_AGE_S = 300


class SignatureRefused(OmniDeskError):
    status_code = 401
    code = "invalid_signature"


@dataclass(frozen=True)
class ApiPrincipal:
    """Who a request acts for when it comes with an API key."""

    key: ApiKey
    scopes: frozenset[str] = field(default_factory=frozenset)
    is_authenticated: bool = True
    is_active: bool = True
    id: None = None
    pk: None = None

    @property
    def rate_key(self) -> str:
        return f"key:{self.key.prefix}"

    def __str__(self) -> str:
        return f"API key {self.key.name}"


def _verify_signature(request: Request, key: ApiKey) -> None:
    """`X-OmniDesk-Signature` = hex HMAC-SHA256(signing secret, "<timestamp>.<METHOD>.<path>.<body>")."""
    timestamp = request.headers.get("X-OmniDesk-Timestamp", "")
    signature = request.headers.get("X-OmniDesk-Signature", "")
    request_id = request.headers.get("X-Request-Id", "")
    if not (timestamp and signature and request_id):
        raise SignatureRefused(
            "This key requires signed requests: send X-OmniDesk-Timestamp, "
            "X-OmniDesk-Signature and X-Request-Id."
        )
    try:
        age_s = abs(time.time() - int(timestamp))
    except ValueError as exc:
        raise SignatureRefused("X-OmniDesk-Timestamp must be Unix seconds.") from exc
    if age_s > SIGNATURE_MAX_AGE_S:
        raise SignatureRefused(
            f"The request is stale: signed more than {SIGNATURE_MAX_AGE_S} s ago.", code="stale_request"
        )
    message = f"{timestamp}.{request.method}.{request.get_full_path()}.".encode() + request._request.body
    expected = hmac.new(key.signing_secret.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureRefused("X-OmniDesk-Signature does not match the request.")
    seen_key = f"api:request-id:{connection.schema_name}:{key.pk}:{request_id}"
    if not get_redis().set(seen_key, "1", nx=True, ex=SIGNATURE_MAX_AGE_S * 2):
        raise SignatureRefused(
            "This X-Request-Id was already used: the request is a replay.", code="replayed_request"
        )


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer od_live_<prefix>_<secret>`, looked up in the company of the host."""

    def authenticate(self, request: Request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        key, rate_decision = api_key_admit(
            plaintext=header[7:].strip(),
            client_ip=request.META.get("REMOTE_ADDR", ""),
            requests_per_minute=requests_per_minute(getattr(request._request, "tenant", None)),
        )
        if key.requires_signature:
            _verify_signature(request, key)
        if rate_decision is not None:
            request.rate_decision = rate_decision  # ApiView.check_throttles applies it
        return ApiPrincipal(key=key, scopes=frozenset(key.scopes)), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
