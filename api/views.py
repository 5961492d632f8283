"""REST API v1. Views parse input, check scopes, call one service and shape the output."""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from api import scopes
from api.base import ApiView, page_of, query_id, query_text
from api.serializers import (
    ConversationMessageInput,
    ConversationOut,
    ConversationUpdateInput,
    MessageOut,
    NoteInput,
    NoteOut,
    SendMessageInput,
)
from channels_wa.selectors import channel_get
from core.errors import NotFound, ValidationFailed
from inbox import services as inbox
from inbox.models import Conversation, Label, Message
from inbox.selectors import conversation_list


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    role = serializers.CharField()
    company = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())


class MeView(ApiView):
    """Who is calling: the signed-in user or the API key, with its scopes and company."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        from api.authentication import ApiPrincipal
        from api.base import principal_scopes

        user = request.user
        if isinstance(user, ApiPrincipal):
            data = {"id": None, "email": "", "name": user.key.name, "role": "api_key"}
        else:
            data = {"id": user.id, "email": user.email, "name": user.name, "role": user.role}
        data.update(company=request.tenant.slug, scopes=sorted(principal_scopes(user)))
        return Response(MeSerializer(data).data)


def _payload(data: dict) -> tuple[str, str, dict]:
    """(kind, text, payload) for message_send from a validated send request."""
    kind, text = data["type"], data.get("text", "")
    if kind == "template":
        if "template" not in data:
            raise ValidationFailed(
                "A template message needs `template` with its name.", code="template_required"
            )
        return kind, "", dict(data["template"])
    if kind == "reaction":
        reaction = data.get("reaction")
        if reaction is None:
            raise ValidationFailed(
                "A reaction needs `reaction` with message_id and emoji.", code="reaction_required"
            )
        target = Message.objects.filter(pk=reaction["message_id"]).exclude(provider_message_id=None).first()
        if target is None:
            raise NotFound(
                "The message to react to does not exist or was never delivered.", code="unknown_message"
            )
        return kind, reaction["emoji"], {"reaction_to": target.provider_message_id}
    if kind in ("image", "video", "audio", "document"):
        if not data.get("media_url"):
            raise ValidationFailed("A media message needs `media_url`.", code="media_required")
        return kind, text, {"link": data["media_url"], "filename": data.get("filename", "")}
    return kind, text, {"preview_url": data.get("preview_url", False)}


class MessagesView(ApiView):
    scopes_by_method = {"POST": scopes.MESSAGES_SEND}

    @extend_schema(request=SendMessageInput, responses={202: MessageOut})
    def post(self, request):
        data = SendMessageInput.validate_payload(request.data)
        channel = channel_get(channel_id=data["channel_id"])
        if channel is None:
            raise ValidationFailed(
                "No such channel in this company.",
                code="unknown_channel",
                details={"channel_id": data["channel_id"]},
            )
        kind, text, payload = _payload(data)
        message = inbox.message_send_to_phone(
            channel=channel,
            phone=data["to"],
            kind=kind,
            text=text,
            payload=payload,
            sender_user=_user(request),
        )
        return Response(message_out(message), status=202)


class MessageDetailView(ApiView):
    scopes_by_method = {"GET": scopes.MESSAGES_READ}

    @extend_schema(responses=MessageOut)
    def get(self, request, message_id: int):
        return Response(MessageOut(get_object_or_404(Message, pk=message_id)).data)


class ConversationPagination(CursorPagination):
    page_size = 30
    max_page_size = 100
    page_size_query_param = "limit"
    ordering = ("-updated_at", "-id")


class MessagePagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")


CONVERSATION_FILTERS = [
    OpenApiParameter("status", str),
    OpenApiParameter("channel", int),
    OpenApiParameter("assignee", int),
    OpenApiParameter("department", int),
    OpenApiParameter("label", str),
    OpenApiParameter("updated_since", str, description="ISO 8601 date-time"),
]


class ConversationsView(ApiView):
    scopes_by_method = {"GET": scopes.CONVERSATIONS_READ}

    @extend_schema(parameters=CONVERSATION_FILTERS, responses=page_of("ConversationPage", ConversationOut))
    def get(self, request):
        from django.utils.dateparse import parse_datetime

        params = request.query_params
        since = None
        if since_text := query_text(params, "updated_since"):
            since = parse_datetime(since_text) if len(since_text) < 40 else None
            if since is None:
                raise ValidationFailed("updated_since must be an ISO 8601 date-time.", code="invalid_filter")
        queryset = conversation_list(
            conversations=CONVERSATION_ROWS,
            status=query_text(params, "status"),
            channel_id=query_id(params, "channel"),
            assignee_id=query_id(params, "assignee"),
            department_id=query_id(params, "department"),
            label=query_text(params, "label"),
            updated_since=since,
        )
        paginator = ConversationPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        tz = timezone.get_current_timezone()
        return paginator.get_paginated_response([conversation_row_out(row, tz) for row in page])


def conversation_rows(conversations: QuerySet[Conversation]) -> QuerySet:
    """The list's conversations as plain rows in one query (labels aggregated), for the hot list endpoint."""
    labels = Label.objects.filter(conversations=OuterRef("pk")).order_by("name").values("name")
    return (
        conversations.prefetch_related(None)
        .annotate(label_names=ArraySubquery(labels))
        .values(*CONVERSATION_ROW_FIELDS, "label_names")
    )


CONVERSATION_ROW_FIELDS = (
    "id",
    "contact_id",
    "contact__name",
    "contact__profile_name",
    "contact__phone",
    "contact__whatsapp_id",
    "channel_id",
    "status",
    "assignee_id",
    "department_id",
    "priority",
    "unread_count",
    "last_message_at",
    "last_message_preview",
    "window_expires_at",
    "snoozed_until",
    "created_at",
    "updated_at",
)


# Built once per process and only ever cloned (filtered, ordered, sliced), never evaluated itself: building
# the join, the labels subquery and the row columns cost ~0.4 ms of CPU on every page.
CONVERSATION_ROWS = conversation_rows(Conversation.objects.all())


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    """Date-times exactly as DRF's DateTimeField writes them (in `tz`, the current time zone; Z for UTC)."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_out(message: Message) -> dict:
    """The MessageOut shape, without DRF building its fields for every response (a test keeps the two
    identical)."""
    segments = (message.payload or {}).get("segments")
    tz = timezone.get_current_timezone()
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "channel_id": message.channel_id,
        "direction": message.direction,
        "type": message.kind,
        "text": message.body,
        "segments": segments if isinstance(segments, int) else None,
        "status": message.status,
        "error": {"code": message.error_code, "title": message.error_title, "detail": message.error_detail}
        if message.error_code
        else None,
        "provider_message_id": message.provider_message_id,
        "sender_kind": message.sender_kind,
        "created_at": _iso(message.created_at, tz),
        "sent_at": _iso(message.sent_at, tz),
        "delivered_at": _iso(message.delivered_at, tz),
        "read_at": _iso(message.read_at, tz),
        "failed_at": _iso(message.failed_at, tz),
    }


def conversation_row_out(row: dict, tz: tzinfo | None = None) -> dict:
    """The ConversationOut shape from a row of conversation_rows (a test keeps the two identical); `tz`:
    the current time zone, looked up once for a whole page."""
    tz = tz or timezone.get_current_timezone()
    contact_name = row["contact__name"] or row["contact__profile_name"] or row["contact__phone"]
    return {
        "id": row["id"],
        "contact": {
            "id": row["contact_id"],
            "name": contact_name or row["contact__whatsapp_id"],
            "phone": row["contact__phone"],
        },
        "channel_id": row["channel_id"],
        "status": row["status"],
        "assignee_id": row["assignee_id"],
        "department_id": row["department_id"],
        "labels": row["label_names"],
        "priority": row["priority"],
        "unread_count": row["unread_count"],
        "last_message_at": _iso(row["last_message_at"], tz),
        "last_message_preview": row["last_message_preview"],
        "window_expires_at": _iso(row["window_expires_at"], tz),
        "snoozed_until": _iso(row["snoozed_until"], tz),
        "created_at": _iso(row["created_at"], tz),
        "updated_at": _iso(row["updated_at"], tz),
    }


class ConversationDetailView(ApiView):
    scopes_by_method = {"GET": scopes.CONVERSATIONS_READ, "PATCH": scopes.CONVERSATIONS_WRITE}

    @extend_schema(responses=ConversationOut)
    def get(self, request, conversation_id: int):
        return Response(ConversationOut(get_object_or_404(Conversation, pk=conversation_id)).data)

    @extend_schema(request=ConversationUpdateInput, responses=ConversationOut)
    def patch(self, request, conversation_id: int):
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        data = ConversationUpdateInput.validate_payload(request.data)
        conversation = inbox.conversation_update(conversation=conversation, **data)
        return Response(ConversationOut(conversation).data)


class ConversationMessagesView(ApiView):
    scopes_by_method = {"GET": scopes.MESSAGES_READ, "POST": scopes.MESSAGES_SEND}

    @extend_schema(responses=page_of("MessagePage", MessageOut))
    def get(self, request, conversation_id: int):
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        paginator = MessagePagination()
        page = paginator.paginate_queryset(conversation.messages.all(), request, view=self)
        return paginator.get_paginated_response(MessageOut(page, many=True).data)

    @extend_schema(request=ConversationMessageInput, responses={202: MessageOut})
    def post(self, request, conversation_id: int):
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        data = ConversationMessageInput.validate_payload(request.data)
        kind, text, payload = _payload(data)
        message = inbox.message_send(
            conversation=conversation,
            kind=kind,
            text=text,
            payload=payload,
            sender_kind=Message.SenderKind.API if _user(request) is None else "user",
            sender_user=_user(request),
        )
        return Response(message_out(message), status=202)


class ConversationNotesView(ApiView):
    scopes_by_method = {"POST": scopes.CONVERSATIONS_WRITE}

    @extend_schema(request=NoteInput, responses={201: NoteOut})
    def post(self, request, conversation_id: int):
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        data = NoteInput.validate_payload(request.data)
        note = inbox.note_create(conversation=conversation, author=_user(request), body=data["body"])
        return Response(NoteOut(note).data, status=201)


def _user(request):
    """The staff user behind a session request; None for an API key."""
    from api.authentication import ApiPrincipal

    return None if isinstance(request.user, ApiPrincipal) else request.user
