"""The project's error type and the JSON error shape every API error uses:
{"error": {"code": "...", "message": "...", "details": {...}}}"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler


class OmniDeskError(Exception):
    """A business or validation error with a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details or {}


class ValidationFailed(OmniDeskError):
    status_code = 400
    code = "validation_error"


class NotFound(OmniDeskError):
    status_code = 404
    code = "not_found"


class Conflict(OmniDeskError):
    status_code = 409
    code = "conflict"


class BusinessRuleViolation(OmniDeskError):
    status_code = 422
    code = "business_rule"


class LimitExceeded(OmniDeskError):
    status_code = 429
    code = "rate_limited"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def json_error(
    code: str,
    message: str,
    status: int,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_DRF_CODES = {
    drf_exceptions.ValidationError: "validation_error",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error, ours or DRF's, leaves in the one JSON shape."""
    if isinstance(exc, OmniDeskError):
        headers = {}
        if exc.status_code == 429 and "retry_after_s" in exc.details:
            headers["Retry-After"] = str(int(exc.details["retry_after_s"]))
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.status_code, headers=headers
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        return Response(error_body("server_error", "An unexpected error occurred."), status=500)
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    data = response.data
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "The request is not valid.", {"fields": data}
    else:
        message = str(data.get("detail", exc)) if isinstance(data, dict) else str(exc)
        details = {}
    response.data = error_body(code, message, details)
    return response
