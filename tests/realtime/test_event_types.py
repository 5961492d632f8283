import pytest

from core.realtime import EVENT_TYPES, UnknownEventType, broadcast_on_commit, validate_event

EXAMPLES = {
    "message.created": {"id": 1, "conversation_id": 2, "direction": "outbound", "status": "queued"},
    "message.updated": {"id": 1, "conversation_id": 2, "status": "delivered"},
    "conversation.created": {"id": 2, "contact_id": 3, "status": "open"},
    "conversation.updated": {"id": 2, "status": "resolved"},
    "campaign.progress": {"id": 4, "status": "running", "sent": 10, "total": 100},
    "channel.status": {"id": 5, "status": "connected"},
    "user.access_changed": {"user_id": 6},
}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_validates_its_payload(event_type):
    validate_event(event_type, EXAMPLES[event_type])
    incomplete = dict(EXAMPLES[event_type])
    incomplete.pop(sorted(EVENT_TYPES[event_type])[0])
    with pytest.raises(ValueError, match="misses"):
        validate_event(event_type, incomplete)


def test_unknown_event_type_is_refused():
    with pytest.raises(UnknownEventType):
        broadcast_on_commit("message.exploded", {"id": 1})
