"""Contacts and channels endpoints of API v1."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from api import scopes
from api.base import ApiView, list_of, page_of, query_text
from api.serializers import (
    ChannelCreateInput,
    ChannelOut,
    ChannelUpdateInput,
    ContactInput,
    ContactOut,
    ContactUpdateInput,
    MergeInput,
    TemplateOut,
)
from channels_wa import services as channels
from channels_wa.models import Channel, Template
from core.errors import ValidationFailed
from inbox import contacts
from inbox.models import Contact


class ContactPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")


class ContactsView(ApiView):
    scopes_by_method = {"GET": scopes.CONTACTS_READ, "POST": scopes.CONTACTS_WRITE}

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="name, phone or WhatsApp id"),
            OpenApiParameter("tag", str),
        ],
        responses=page_of("ContactPage", ContactOut),
    )
    def get(self, request):
        queryset = Contact.objects.prefetch_related("identities")
        if q := query_text(request.query_params, "q").strip():
            queryset = queryset.filter(
                Q(name__icontains=q)
                | Q(profile_name__icontains=q)
                | Q(phone__contains=q)
                | Q(whatsapp_id__contains=q.lstrip("+"))
            )
        if tag := query_text(request.query_params, "tag"):
            queryset = queryset.filter(tags__contains=[tag])
        paginator = ContactPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ContactOut(page, many=True).data)

    @extend_schema(request=ContactInput, responses={201: ContactOut})
    def post(self, request):
        contact = contacts.contact_create(**ContactInput.validate_payload(request.data))
        return Response(ContactOut(contact).data, status=201)


class ContactDetailView(ApiView):
    scopes_by_method = {
        "GET": scopes.CONTACTS_READ,
        "PATCH": scopes.CONTACTS_WRITE,
        "DELETE": scopes.CONTACTS_WRITE,
    }

    @extend_schema(responses=ContactOut)
    def get(self, request, contact_id: int):
        return Response(ContactOut(get_object_or_404(Contact, pk=contact_id)).data)

    @extend_schema(request=ContactUpdateInput, responses=ContactOut)
    def patch(self, request, contact_id: int):
        contact = get_object_or_404(Contact, pk=contact_id)
        contact = contacts.contact_update(
            contact=contact, **ContactUpdateInput.validate_payload(request.data)
        )
        return Response(ContactOut(contact).data)

    @extend_schema(responses={204: None})
    def delete(self, request, contact_id: int):
        contacts.contact_delete(contact=get_object_or_404(Contact, pk=contact_id))
        return Response(status=204)


class ContactImportView(ApiView):
    scopes_by_method = {"POST": scopes.CONTACTS_WRITE}
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer("ContactImport", {"file": serializers.FileField()})
        },
        responses=inline_serializer(
            "ContactImportResult",
            {
                "created": serializers.IntegerField(),
                "updated": serializers.IntegerField(),
                "errors": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed("Send the CSV as the multipart field `file`.", code="file_required")
        result = contacts.contact_import_csv(content=upload.read())
        return Response({"created": result.created, "updated": result.updated, "errors": result.errors})


class ContactMergeView(ApiView):
    scopes_by_method = {"POST": scopes.CONTACTS_WRITE}

    @extend_schema(request=MergeInput, responses=ContactOut)
    def post(self, request, contact_id: int):
        source = get_object_or_404(Contact, pk=contact_id)
        data = MergeInput.validate_payload(request.data)
        target = get_object_or_404(Contact, pk=data["into"])
        return Response(ContactOut(contacts.contact_merge(source=source, target=target)).data)


def _channel_out(channel: Channel) -> dict:
    data = ChannelOut(channel).data
    data["webhook_url"] = channels.channel_webhook_url(channel=channel)
    return data


class ChannelsView(ApiView):
    scopes_by_method = {"GET": scopes.CHANNELS_MANAGE, "POST": scopes.CHANNELS_MANAGE}

    @extend_schema(responses=list_of("ChannelList", ChannelOut))
    def get(self, request):
        return Response({"results": [_channel_out(c) for c in Channel.objects.all()]})

    @extend_schema(request=ChannelCreateInput, responses={201: ChannelOut})
    def post(self, request):
        channel = channels.channel_create(**ChannelCreateInput.validate_payload(request.data))
        return Response(_channel_out(channel), status=201)


class ChannelDetailView(ApiView):
    scopes_by_method = {
        "GET": scopes.CHANNELS_MANAGE,
        "PATCH": scopes.CHANNELS_MANAGE,
        "DELETE": scopes.CHANNELS_MANAGE,
    }

    @extend_schema(responses=ChannelOut)
    def get(self, request, channel_id: int):
        return Response(_channel_out(get_object_or_404(Channel, pk=channel_id)))

    @extend_schema(request=ChannelUpdateInput, responses=ChannelOut)
    def patch(self, request, channel_id: int):
        channel = get_object_or_404(Channel, pk=channel_id)
        channel = channels.channel_update(
            channel=channel, **ChannelUpdateInput.validate_payload(request.data)
        )
        return Response(_channel_out(channel))

    @extend_schema(responses={204: None})
    def delete(self, request, channel_id: int):
        channels.channel_delete(channel=get_object_or_404(Channel, pk=channel_id))
        return Response(status=204)


class ChannelStatusView(ApiView):
    scopes_by_method = {"GET": scopes.CHANNELS_MANAGE}

    @extend_schema(
        responses=inline_serializer(
            "ChannelStatus",
            {
                "status": serializers.CharField(),
                "last_error": serializers.CharField(),
                "status_changed_at": serializers.DateTimeField(allow_null=True),
            },
        )
    )
    def get(self, request, channel_id: int):
        channel = get_object_or_404(Channel, pk=channel_id)
        return Response(
            {
                "status": channel.status,
                "last_error": channel.last_error,
                "status_changed_at": channel.status_changed_at,
            }
        )


class ChannelTemplatesView(ApiView):
    scopes_by_method = {"GET": scopes.MESSAGES_READ}

    @extend_schema(responses=list_of("TemplateList", TemplateOut))
    def get(self, request, channel_id: int):
        channel = get_object_or_404(Channel, pk=channel_id)
        return Response({"results": TemplateOut(Template.objects.filter(channel=channel), many=True).data})


class ChannelTemplatesSyncView(ApiView):
    scopes_by_method = {"POST": scopes.CHANNELS_MANAGE}

    @extend_schema(
        request=None, responses=inline_serializer("TemplateSync", {"synced": serializers.IntegerField()})
    )
    def post(self, request, channel_id: int):
        channel = get_object_or_404(Channel, pk=channel_id)
        return Response({"synced": channels.template_sync(channel=channel)})
