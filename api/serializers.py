from __future__ import annotations

import re

from rest_framework import serializers

from inbox.models import Conversation, Message


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, not silently ignored: a typo must not send something else."""

    @classmethod
    def validate_payload(cls, data) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class TemplateInput(StrictSerializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16, default="en")
    header_params = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    body_params = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class ReactionInput(StrictSerializer):
    message_id = serializers.IntegerField()
    emoji = serializers.CharField(max_length=16, allow_blank=True)


class SendMessageInput(StrictSerializer):
    """The fields are checked by hand first for the common well-formed request (see _send_message_fast);
    anything else goes through DRF, which words the errors."""

    TYPES = ("text", "image", "video", "audio", "document", "template", "reaction")

    channel_id = serializers.IntegerField()
    to = serializers.CharField(
        max_length=32,
        help_text="E.164 phone number for WhatsApp and SMS channels, e.g. +14155550123; the customer's "
        "page-scoped id (Messenger) or Instagram-scoped id (Instagram) for those channels",
    )
    type = serializers.ChoiceField(choices=TYPES, default="text")
    text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    media_url = serializers.URLField(required=False)
    filename = serializers.CharField(required=False, max_length=255)
    template = TemplateInput(required=False)
    reaction = ReactionInput(required=False)
    preview_url = serializers.BooleanField(required=False, default=False)

    @classmethod
    def validate_payload(cls, data) -> dict:
        validated = _send_message_fast(data)
        return validated if validated is not None else super().validate_payload(data)


# What DRF's validation makes of a well-formed send request, without building the serializer's fields for
# every request (~250 µs of CPU). Each check accepts only what DRF accepts unchanged or trims; on anything
# else the request goes to the serializer. A test holds the two to the same result on many payloads.
_REFUSED = object()
_UNSAFE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_SEND_FIELDS = frozenset({"channel_id", "to", "type", "text", "template", "preview_url"})
_TEMPLATE_FIELDS = frozenset({"name", "language", "header_params", "body_params"})


def _text(value, *, max_length: int | None = None, trim: bool = True, allow_blank: bool = False):
    """A CharField's value for a str, or _REFUSED for what the field would refuse or coerce."""
    if not isinstance(value, str) or _UNSAFE_CHARACTERS.search(value):
        return _REFUSED
    if trim:
        value = value.strip()
    if (not value and not allow_blank) or (max_length is not None and len(value) > max_length):
        return _REFUSED
    return value


def _template_fast(data) -> dict | None:
    if not isinstance(data, dict) or not data.keys() <= _TEMPLATE_FIELDS:
        return None
    validated = {
        "name": _text(data.get("name"), max_length=512),
        "language": _text(data.get("language", "en"), max_length=16),
    }
    for name in ("header_params", "body_params"):
        items = data.get(name, [])
        if type(items) is not list:
            return None
        validated[name] = [_text(item) for item in items]
    if any(value is _REFUSED for value in validated.values()) or any(
        item is _REFUSED for name in ("header_params", "body_params") for item in validated[name]
    ):
        return None
    return validated


def _send_message_fast(data) -> dict | None:
    """SendMessageInput's validated data for a request made only of plain, valid values; else None."""
    if not isinstance(data, dict) or not data.keys() <= _SEND_FIELDS:
        return None
    kind, preview_url = data.get("type", "text"), data.get("preview_url", False)
    if type(data.get("channel_id")) is not int or type(preview_url) is not bool:
        return None
    if not isinstance(kind, str) or kind not in SendMessageInput.TYPES:
        return None
    validated = {
        "channel_id": data["channel_id"],
        "to": _text(data.get("to"), max_length=32),
        "type": kind,
        "text": _text(data.get("text", ""), trim=False, allow_blank=True),
    }
    if validated["to"] is _REFUSED or validated["text"] is _REFUSED:
        return None
    if "template" in data:
        validated["template"] = _template_fast(data["template"])
        if validated["template"] is None:
            return None
    validated["preview_url"] = preview_url
    return validated


class ConversationMessageInput(StrictSerializer):
    type = serializers.ChoiceField(choices=SendMessageInput.TYPES, default="text")
    text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    media_url = serializers.URLField(required=False)
    filename = serializers.CharField(required=False, max_length=255)
    template = TemplateInput(required=False)
    reaction = ReactionInput(required=False)


class ConversationUpdateInput(StrictSerializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    snoozed_until = serializers.DateTimeField(required=False)
    assignee_id = serializers.IntegerField(required=False, allow_null=True)
    department_id = serializers.IntegerField(required=False, allow_null=True)
    labels = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    priority = serializers.ChoiceField(choices=Conversation.Priority.choices, required=False)


class NoteInput(StrictSerializer):
    body = serializers.CharField()


class MessageOut(serializers.ModelSerializer):
    type = serializers.CharField(source="kind")
    text = serializers.CharField(source="body")
    error = serializers.SerializerMethodField()
    segments = serializers.SerializerMethodField(help_text="SMS segments the text costs (SMS channels only)")

    class Meta:
        model = Message
        fields = (
            "id",
            "conversation_id",
            "channel_id",
            "direction",
            "type",
            "text",
            "segments",
            "status",
            "error",
            "provider_message_id",
            "sender_kind",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
        )

    def get_segments(self, message: Message) -> int | None:
        segments = (message.payload or {}).get("segments")
        return segments if isinstance(segments, int) else None

    def get_error(self, message: Message) -> dict | None:
        if not message.error_code:
            return None
        return {"code": message.error_code, "title": message.error_title, "detail": message.error_detail}


class ContactBrief(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")
    phone = serializers.CharField()


class ConversationOut(serializers.ModelSerializer):
    contact = ContactBrief()
    labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Conversation
        fields = (
            "id",
            "contact",
            "channel_id",
            "status",
            "assignee_id",
            "department_id",
            "labels",
            "priority",
            "unread_count",
            "last_message_at",
            "last_message_preview",
            "window_expires_at",
            "snoozed_until",
            "created_at",
            "updated_at",
        )


class NoteOut(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author_id = serializers.IntegerField(allow_null=True)
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class ContactIdentityOut(serializers.Serializer):
    kind = serializers.CharField(help_text="whatsapp, sms, messenger or instagram")
    scope = serializers.CharField(help_text="The page or Instagram account the id belongs to (scoped ids)")
    value = serializers.CharField()


class ContactOut(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField()
    whatsapp_id = serializers.CharField()
    identities = ContactIdentityOut(many=True, read_only=True)
    avatar_url = serializers.CharField()
    name = serializers.CharField()
    profile_name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    custom_attributes = serializers.DictField()
    is_opted_out = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ContactInput(StrictSerializer):
    phone = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    custom_attributes = serializers.DictField(required=False)
    is_opted_out = serializers.BooleanField(required=False)


class ContactUpdateInput(ContactInput):
    phone = serializers.CharField(max_length=32, required=False)


class MergeInput(StrictSerializer):
    into = serializers.IntegerField(help_text="id of the contact that remains")


class ChannelOut(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    provider = serializers.CharField()
    name = serializers.CharField()
    phone_number = serializers.CharField()
    external_id = serializers.CharField()
    account_id = serializers.CharField()
    status = serializers.CharField()
    last_error = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    rate_per_s = serializers.IntegerField()
    default_department_id = serializers.IntegerField(allow_null=True)
    has_access_token = serializers.SerializerMethodField()
    has_app_secret = serializers.SerializerMethodField()
    human_agent_tag_enabled = serializers.BooleanField()
    capabilities = serializers.SerializerMethodField()
    webhook_url = serializers.CharField(read_only=True, required=False)
    created_at = serializers.DateTimeField()

    def get_capabilities(self, channel) -> dict:
        provider = channel.capabilities
        return {
            "identity_kind": provider.identity_kind,
            "has_window": provider.has_window,
            "window_hours": provider.window_s // 3600 if provider.has_window else None,
            "human_agent_window_days": provider.human_agent_window_s // 86400 or None,
            "supports_templates": provider.supports_templates,
            "counts_segments": provider.counts_segments,
        }

    def get_has_access_token(self, channel) -> bool:
        return bool(channel.access_token)

    def get_has_app_secret(self, channel) -> bool:
        return bool(channel.app_secret)


class ChannelCreateInput(StrictSerializer):
    provider = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=120)
    external_id = serializers.CharField(max_length=128)
    phone_number = serializers.CharField(max_length=32, required=False, default="")
    account_id = serializers.CharField(max_length=128, required=False, default="")
    access_token = serializers.CharField(required=False, default="", write_only=True)
    app_secret = serializers.CharField(required=False, default="", write_only=True)
    verify_token = serializers.CharField(required=False, default="", write_only=True)
    api_base_url = serializers.URLField(required=False, default="")
    api_version = serializers.CharField(max_length=16, required=False, default="")
    rate_per_s = serializers.IntegerField(required=False, default=80, min_value=1, max_value=1000)
    default_department_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    human_agent_tag_enabled = serializers.BooleanField(required=False, default=False)


class ChannelUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False)
    access_token = serializers.CharField(required=False, write_only=True)
    app_secret = serializers.CharField(required=False, write_only=True)
    verify_token = serializers.CharField(required=False, write_only=True)
    api_base_url = serializers.URLField(required=False, allow_blank=True)
    api_version = serializers.CharField(max_length=16, required=False, allow_blank=True)
    rate_per_s = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    default_department_id = serializers.IntegerField(required=False, allow_null=True)
    human_agent_tag_enabled = serializers.BooleanField(required=False)


class TemplateOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField()
    variable_count = serializers.IntegerField()
    components = serializers.ListField(child=serializers.DictField())
    synced_at = serializers.DateTimeField()
