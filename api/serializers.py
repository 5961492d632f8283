from __future__ import annotations

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
    TYPES = ("text", "image", "video", "audio", "document", "template", "reaction")

    channel_id = serializers.IntegerField()
    to = serializers.CharField(max_length=32, help_text="E.164 phone number, e.g. +14155550123")
    type = serializers.ChoiceField(choices=TYPES, default="text")
    text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    media_url = serializers.URLField(required=False)
    filename = serializers.CharField(required=False, max_length=255)
    template = TemplateInput(required=False)
    reaction = ReactionInput(required=False)
    preview_url = serializers.BooleanField(required=False, default=False)


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

    class Meta:
        model = Message
        fields = (
            "id",
            "conversation_id",
            "channel_id",
            "direction",
            "type",
            "text",
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
