"""Outbound webhook endpoints and their deliveries, API v1."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from api import scopes
from api.base import ApiView, list_of, page_of
from api.serializers import StrictSerializer
from automation import selectors, services


class EndpointOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class EndpointCreated(EndpointOut):
    secret = serializers.CharField(help_text="Shown once: keep it to verify X-OmniDesk-Signature.")


class EndpointInput(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)
    description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class EndpointUpdateInput(StrictSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class DeliveryOut(serializers.Serializer):
    id = serializers.UUIDField(source="delivery_id")
    endpoint_id = serializers.IntegerField()
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class DeliveryPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")


class WebhooksView(ApiView):
    scopes_by_method = {"GET": scopes.WEBHOOKS_MANAGE, "POST": scopes.WEBHOOKS_MANAGE}

    @extend_schema(responses=list_of("WebhookEndpointList", EndpointOut))
    def get(self, request):
        return Response({"results": EndpointOut(selectors.webhook_endpoint_list(), many=True).data})

    @extend_schema(request=EndpointInput, responses={201: EndpointCreated})
    def post(self, request):
        endpoint, secret = services.webhook_endpoint_create(**EndpointInput.validate_payload(request.data))
        return Response({**EndpointOut(endpoint).data, "secret": secret}, status=201)


class WebhookDetailView(ApiView):
    scopes_by_method = {
        "GET": scopes.WEBHOOKS_MANAGE,
        "PATCH": scopes.WEBHOOKS_MANAGE,
        "DELETE": scopes.WEBHOOKS_MANAGE,
    }

    @extend_schema(responses=EndpointOut)
    def get(self, request, endpoint_id: int):
        return Response(EndpointOut(selectors.webhook_endpoint_get(endpoint_id=endpoint_id)).data)

    @extend_schema(request=EndpointUpdateInput, responses=EndpointOut)
    def patch(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint, **EndpointUpdateInput.validate_payload(request.data)
        )
        return Response(EndpointOut(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id: int):
        services.webhook_endpoint_delete(endpoint=selectors.webhook_endpoint_get(endpoint_id=endpoint_id))
        return Response(status=204)


class WebhookDeliveriesView(ApiView):
    scopes_by_method = {"GET": scopes.WEBHOOKS_MANAGE}

    @extend_schema(responses=page_of("WebhookDeliveryPage", DeliveryOut))
    def get(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        queryset = selectors.webhook_delivery_list(
            endpoint=endpoint, status=request.query_params.get("status")
        )
        paginator = DeliveryPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(DeliveryOut(page, many=True).data)


class WebhookTestView(ApiView):
    scopes_by_method = {"POST": scopes.WEBHOOKS_MANAGE}

    @extend_schema(request=None, responses={202: DeliveryOut})
    def post(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response(DeliveryOut(services.webhook_endpoint_test(endpoint=endpoint)).data, status=202)


class DeliveryRetryView(ApiView):
    scopes_by_method = {"POST": scopes.WEBHOOKS_MANAGE}

    @extend_schema(request=None, responses={202: DeliveryOut})
    def post(self, request, delivery_id):
        delivery = selectors.webhook_delivery_get(delivery_id=delivery_id)
        return Response(DeliveryOut(services.webhook_delivery_retry(delivery=delivery)).data, status=202)
