"""The send endpoint's hand-written check of well-formed requests gives exactly what the DRF serializer
gives, and leaves everything else (errors included) to the serializer."""

import pytest
from rest_framework import serializers

from api.serializers import SendMessageInput, _send_message_fast

TEMPLATE = {"name": "hello_world", "language": "en_US"}
PAYLOADS = [
    {"channel_id": 1, "to": "+15550001111", "text": "Hello"},
    {"channel_id": 1, "to": " +15550001111 ", "text": "  spaced  "},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": TEMPLATE},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {"name": " hi "}},
    {
        "channel_id": 7,
        "to": "1234",
        "type": "template",
        "template": {**TEMPLATE, "header_params": [" a"], "body_params": ["Ana", "A-1"]},
        "preview_url": True,
    },
    {"channel_id": 1, "to": "+15550001111", "text": "", "preview_url": False},
    {"channel_id": 1, "to": "+15550001111", "text": "Olá 👋"},
    {"channel_id": 1, "to": "x" * 32, "text": "x"},
    # what DRF coerces, refuses or words an error for
    {"channel_id": "1", "to": "+15550001111", "text": "x"},
    {"channel_id": 1.0, "to": "+15550001111", "text": "x"},
    {"channel_id": True, "to": "+15550001111", "text": "x"},
    {"channel_id": None, "to": "+15550001111", "text": "x"},
    {"to": "+15550001111", "text": "x"},
    {"channel_id": 1, "text": "x"},
    {"channel_id": 1, "to": 15550001111, "text": "x"},
    {"channel_id": 1, "to": "", "text": "x"},
    {"channel_id": 1, "to": "   ", "text": "x"},
    {"channel_id": 1, "to": "x" * 33, "text": "x"},
    {"channel_id": 1, "to": "+1555\x000001111", "text": "x"},
    {"channel_id": 1, "to": "+15550001111", "text": "\ud800"},
    {"channel_id": 1, "to": "+15550001111", "text": None},
    {"channel_id": 1, "to": "+15550001111", "text": 5},
    {"channel_id": 1, "to": "+15550001111", "type": "sticker"},
    {"channel_id": 1, "to": "+15550001111", "type": ""},
    {"channel_id": 1, "to": "+15550001111", "type": None},
    {"channel_id": 1, "to": "+15550001111", "text": "x", "preview_url": "true"},
    {"channel_id": 1, "to": "+15550001111", "text": "x", "preview_url": 1},
    {"channel_id": 1, "to": "+15550001111", "text": "x", "colour": "red"},
    {"channel_id": 1, "to": "+15550001111", "type": "image", "media_url": "https://example.com/a.png"},
    {"channel_id": 1, "to": "+15550001111", "type": "image", "media_url": "not a url"},
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "document",
        "filename": "a.pdf",
        "media_url": "https://e.x/a",
    },
    {"channel_id": 1, "to": "+15550001111", "type": "reaction", "reaction": {"message_id": 3, "emoji": "👍"}},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": None},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {}},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {"name": ""}},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {"name": "x" * 513}},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {"name": "x", "language": ""}},
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "template",
        "template": {"name": "x", "language": "x" * 17},
    },
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "template",
        "template": {"name": "x", "body_params": "a"},
    },
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "template",
        "template": {"name": "x", "body_params": [""]},
    },
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "template",
        "template": {"name": "x", "body_params": [1]},
    },
    {
        "channel_id": 1,
        "to": "+15550001111",
        "type": "template",
        "template": {"name": "x", "body_params": ("a",)},
    },
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": {"name": "x", "extra": 1}},
    {"channel_id": 1, "to": "+15550001111", "type": "template", "template": ["x"]},
    ["a", "list"],
    "text",
    None,
]


def drf_result(payload):
    serializer = SendMessageInput(data=payload)
    if not isinstance(payload, dict) or not serializer.is_valid():
        return "refused"
    return serializer.validated_data


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_the_fast_check_agrees_with_the_serializer_or_leaves_it_the_request(payload):
    fast = _send_message_fast(payload)
    expected = drf_result(payload)
    if fast is not None:
        assert fast == expected
        assert list(fast) == list(expected)  # same keys in the same order (the payload is stored as given)
        if "template" in fast:
            assert list(fast["template"]) == list(expected["template"])
    if expected == "refused":
        with pytest.raises(serializers.ValidationError):
            SendMessageInput.validate_payload(payload)
    else:
        assert SendMessageInput.validate_payload(payload) == expected


def test_the_common_requests_take_the_fast_check():
    assert all(_send_message_fast(payload) is not None for payload in PAYLOADS[:8])
