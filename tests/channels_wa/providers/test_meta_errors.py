"""Meta error codes mapped to ProviderError: code kept, transient or permanent."""

from __future__ import annotations

import pytest

from channels_wa.providers.meta_whatsapp.errors import error_from_meta


@pytest.mark.parametrize("code", [130429, 131056, 131000, 131016, 80007, 4, 613])
def test_transient_codes(code):
    error = error_from_meta({"error": {"message": f"(#{code}) Something", "code": code}}, 400)
    assert (error.code, error.title, error.is_transient) == (str(code), "Something", True)


@pytest.mark.parametrize(
    "code", [131047, 131026, 132000, 132001, 132012, 100, 131051, 190, 131008, 131009, 368]
)
def test_permanent_codes(code):
    assert error_from_meta({"error": {"message": "Nope", "code": code}}, 400).is_transient is False


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_429_are_transient_whatever_the_code(status):
    error = error_from_meta({"error": {"message": "Oops", "code": 1}}, status)
    assert error.is_transient is True
    assert error.http_status == status


def test_webhook_error_object_uses_title_and_details():
    error = error_from_meta(
        {
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."},
        },
        None,
    )
    assert (error.code, error.title, error.detail, error.http_status) == (
        "131026",
        "Message undeliverable",
        "Message Undeliverable.",
        None,
    )


def test_missing_payload():
    assert error_from_meta(None, 502).code == "http_502"
    assert error_from_meta({}, None).code == "unknown"
    assert error_from_meta({}, None).title == "Unknown error"
