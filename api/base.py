"""The base of every v1 endpoint: key or session auth, scopes, per-key rate limit with headers on
every response, and `Idempotency-Key` on POST."""

from __future__ import annotations

import hashlib
import json
import math
import re

from django.db import connection
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication, ApiPrincipal
from api.scopes import scopes_for_role
from api.services import api_key_usage_record, rate_limit_bucket, requests_per_minute
from core.errors import Conflict, LimitExceeded, OmniDeskError, ValidationFailed
from core.redis import get_redis

IDEMPOTENCY_TTL_S = 24 * 3600


ID_PATTERN = re.compile(r"^[0-9]{1,18}$")


def query_id(params, name: str) -> int | None:
    """An id from the query string, or a 400 that says what was wrong."""
    value = params.get(name)
    if value in (None, ""):
        return None
    if not ID_PATTERN.match(value):
        raise ValidationFailed(
            f"{name} must be a numeric id.", code="invalid_filter", details={"param": name}
        )
    return int(value)


def query_text(params, name: str, max_length: int = 200) -> str:
    value = params.get(name, "")
    if "\x00" in value or len(value) > max_length:
        raise ValidationFailed(
            f"{name} is not a valid filter value.", code="invalid_filter", details={"param": name}
        )
    return value


def page_of(name: str, item_serializer) -> serializers.Serializer:
    """The schema of a cursor-paginated list."""
    return inline_serializer(
        name,
        {
            "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "results": item_serializer(many=True),
        },
    )


def list_of(name: str, item_serializer) -> serializers.Serializer:
    return inline_serializer(name, {"results": item_serializer(many=True)})


class MissingScope(OmniDeskError):
    status_code = 403
    code = "insufficient_scope"


def principal_scopes(user) -> frozenset[str]:
    if isinstance(user, ApiPrincipal):
        return user.scopes
    return scopes_for_role(getattr(user, "role", ""))


class HasScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        needed = view.scopes_by_method.get(request.method)
        if needed and needed not in principal_scopes(request.user):
            raise MissingScope(f"This request needs the {needed!r} scope.", details={"scope": needed})
        return True


class IdempotentReplay(Exception):
    def __init__(self, status: int, data):
        self.status, self.data = status, data


class ApiView(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [HasScope]
    scopes_by_method: dict[str, str] = {}

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            from rest_framework.exceptions import NotAuthenticated

            raise NotAuthenticated("Send an API key: Authorization: Bearer od_live_<prefix>_<secret>.")
        super().permission_denied(request, message, code)

    # Rate limit -----------------------------------------------------------------------------------------
    def _rate_identity(self, request) -> str | None:
        user = request.user
        if isinstance(user, ApiPrincipal):
            return user.rate_key
        return f"user:{user.pk}" if getattr(user, "is_authenticated", False) else None

    def check_throttles(self, request):
        decision = getattr(request, "rate_decision", None)  # taken with the key's admission
        if decision is None:
            identity = self._rate_identity(request)
            if identity is None:
                return
            user = request.user
            count_use = (
                (lambda pipe: api_key_usage_record(pipe, key=user.key))
                if isinstance(user, ApiPrincipal)
                else None
            )
            bucket = rate_limit_bucket(
                identity=identity, requests_per_minute=requests_per_minute(getattr(request, "tenant", None))
            )
            decision = bucket.take(also=count_use)
            request.rate_decision = decision
        if not decision.is_allowed:
            raise LimitExceeded(
                f"Rate limit of {decision.limit} requests per minute exceeded.",
                details={
                    "retry_after_s": max(1, math.ceil(decision.retry_after_s)),
                    "limit_per_minute": decision.limit,
                },
            )

    # Idempotency ----------------------------------------------------------------------------------------
    def _idempotency_slot(self, request) -> str | None:
        key = request.headers.get("Idempotency-Key")
        identity = self._rate_identity(request)
        if request.method != "POST" or not key or identity is None:
            return None
        return f"idempotency:{connection.schema_name}:{identity}:{key[:200]}"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        slot = self._idempotency_slot(request)
        if slot is None:
            return
        body_hash = hashlib.sha256(request._request.body).hexdigest()
        redis = get_redis()
        placeholder = json.dumps({"state": "pending", "body_hash": body_hash})
        if redis.set(slot, placeholder, nx=True, ex=IDEMPOTENCY_TTL_S):
            request.idempotency_slot = slot
            request.idempotency_body_hash = body_hash
            return
        stored = json.loads(redis.get(slot) or placeholder)
        if stored["body_hash"] != body_hash:
            raise Conflict(
                "This Idempotency-Key was used with a different request body.", code="idempotency_conflict"
            )
        if stored["state"] == "pending":
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.",
                code="idempotency_in_progress",
            )
        raise IdempotentReplay(stored["status"], stored["data"])

    def handle_exception(self, exc):
        if isinstance(exc, IdempotentReplay):
            response = Response(exc.data, status=exc.status)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        slot = getattr(request, "idempotency_slot", None)
        if slot is not None:
            redis = get_redis()
            if response.status_code < 500 and response.status_code != 429:
                redis.set(
                    slot,
                    json.dumps(
                        {
                            "state": "done",
                            "body_hash": request.idempotency_body_hash,
                            "status": response.status_code,
                            "data": response.data,
                        }
                    ),
                    ex=IDEMPOTENCY_TTL_S,
                )
            else:
                redis.delete(slot)  # nothing happened that a retry could repeat
        decision = getattr(request, "rate_decision", None)
        if decision is not None:
            response["X-RateLimit-Limit"] = str(decision.limit)
            response["X-RateLimit-Remaining"] = str(max(0, decision.remaining))
            response["X-RateLimit-Reset"] = str(math.ceil(decision.reset_after_s))
        return response
