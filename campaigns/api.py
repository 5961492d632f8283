"""REST API v1 for campaigns: /api/v1/campaigns. Views parse input, call one service, shape the output."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from accounts.models import User
from api import scopes
from api.base import ApiView, page_of, query_text
from api.serializers import StrictSerializer
from campaigns import services
from campaigns.audience import audience_count, audience_validate, csv_parse
from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_list, campaign_stats, recipient_list, recipient_row
from channels_wa.models import Channel
from core.errors import NotFound, ValidationFailed

RECIPIENT_CSV_COLUMNS = (
    "id",
    "contact_id",
    "name",
    "phone",
    "status",
    "message_status",
    "error_code",
    "error_title",
    "attempts",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied_at",
    "clicked_at",
    "clicks",
    "opted_out_at",
)


class VariableInput(StrictSerializer):
    source = serializers.ChoiceField(choices=["field", "attribute", "csv", "static"])
    key = serializers.CharField(max_length=200)
    fallback = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class CampaignInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    channel_id = serializers.IntegerField()
    audience = serializers.JSONField(required=False, default=dict)
    audience_csv = serializers.CharField(
        required=False, allow_blank=True, help_text="CSV text with a phone column"
    )
    kind = serializers.ChoiceField(choices=Campaign.Kind.values, default=Campaign.Kind.TEMPLATE)
    template_name = serializers.CharField(max_length=512, required=False, allow_blank=True)
    template_language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    template_variables = VariableInput(many=True, required=False)
    header_media_link = serializers.URLField(required=False, allow_blank=True)
    header_media_kind = serializers.ChoiceField(choices=["", "image", "video", "document"], required=False)
    text = serializers.CharField(required=False, allow_blank=True, max_length=4096)
    is_link_tracking = serializers.BooleanField(required=False)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)
    is_quiet_hours_enabled = serializers.BooleanField(required=False)
    quiet_hours_start = serializers.TimeField(required=False)
    quiet_hours_end = serializers.TimeField(required=False)
    auto_stop_sample = serializers.IntegerField(required=False, min_value=1, max_value=100000)
    auto_stop_failure_ratio = serializers.FloatField(required=False, min_value=0.01, max_value=1)


class CampaignUpdateInput(CampaignInput):
    name = serializers.CharField(max_length=200, required=False)
    channel_id = serializers.IntegerField(required=False)
    audience = serializers.JSONField(required=False)
    kind = serializers.ChoiceField(choices=Campaign.Kind.values, required=False)


class CampaignOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel_id = serializers.IntegerField()
    status = serializers.CharField()
    stop_reason = serializers.CharField()
    audience = serializers.JSONField()
    audience_csv_rows = serializers.IntegerField()
    kind = serializers.CharField()
    template_name = serializers.CharField()
    template_language = serializers.CharField()
    template_variables = serializers.JSONField()
    header_media_link = serializers.CharField()
    header_media_kind = serializers.CharField()
    text = serializers.CharField()
    is_link_tracking = serializers.BooleanField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    is_quiet_hours_enabled = serializers.BooleanField()
    quiet_hours_start = serializers.TimeField()
    quiet_hours_end = serializers.TimeField()
    auto_stop_sample = serializers.IntegerField()
    auto_stop_failure_ratio = serializers.FloatField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class StatsOut(serializers.Serializer):
    total = serializers.IntegerField()
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    read = serializers.IntegerField()
    replied = serializers.IntegerField()
    failed = serializers.IntegerField()
    failed_by_reason = serializers.DictField(child=serializers.IntegerField())
    unknown = serializers.IntegerField()
    skipped = serializers.IntegerField()
    clicked = serializers.IntegerField()
    opted_out = serializers.IntegerField()


class PreviewInput(StrictSerializer):
    audience = serializers.JSONField(required=False, default=dict)
    audience_csv = serializers.CharField(required=False, allow_blank=True)


class PreviewOut(serializers.Serializer):
    count = serializers.IntegerField()
    csv_rows = serializers.IntegerField()
    csv_errors = serializers.ListField(child=serializers.DictField())


def campaign_out(campaign: Campaign) -> dict:
    data = {name: getattr(campaign, name) for name in CampaignOut().fields if hasattr(campaign, name)}
    data["audience_csv_rows"] = len(campaign.audience_csv or [])
    return CampaignOut(data).data


def _campaign_fields(data: dict) -> tuple[dict, list]:
    """Validated input → service keyword arguments (the CSV parsed, the channel of this company)."""
    fields = dict(data)
    errors: list = []
    if "channel_id" in fields and not Channel.objects.filter(pk=fields["channel_id"]).exists():
        raise ValidationFailed("No such channel in this company.", code="unknown_channel")
    if "audience_csv" in fields:
        rows, errors = csv_parse(content=fields.pop("audience_csv")) if data["audience_csv"] else ([], [])
        fields["audience_csv"] = rows
    if "template_variables" in fields:
        fields["template_variables"] = [dict(v) for v in fields["template_variables"]]
    return fields, errors


def _get(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("channel").filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    return campaign


class CampaignPagination(CursorPagination):
    ordering = "-id"
    page_size = 50


class CampaignsView(ApiView):
    scopes_by_method = {"GET": scopes.CAMPAIGNS_WRITE, "POST": scopes.CAMPAIGNS_WRITE}

    @extend_schema(
        parameters=[OpenApiParameter("status", str, required=False)],
        responses=page_of("CampaignPage", CampaignOut),
    )
    def get(self, request):
        rows = campaign_list()
        status = query_text(request.query_params, "status", 20)
        if status:
            rows = rows.filter(status=status)
        paginator = CampaignPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([campaign_out(c) for c in page])

    @extend_schema(request=CampaignInput, responses={201: CampaignOut})
    def post(self, request):
        data = CampaignInput.validate_payload(request.data)
        fields, errors = _campaign_fields(data)
        name, channel_id = fields.pop("name"), fields.pop("channel_id")
        campaign = services.campaign_create(
            name=name,
            channel=Channel.objects.get(pk=channel_id),
            created_by=request.user if isinstance(request.user, User) else None,
            **fields,
        )
        return Response({**campaign_out(campaign), "csv_errors": errors}, status=201)


class CampaignDetailView(ApiView):
    scopes_by_method = {"GET": scopes.CAMPAIGNS_WRITE, "PATCH": scopes.CAMPAIGNS_WRITE}

    @extend_schema(responses=CampaignOut)
    def get(self, request, campaign_id: int):
        return Response(campaign_out(_get(campaign_id)))

    @extend_schema(request=CampaignUpdateInput, responses=CampaignOut)
    def patch(self, request, campaign_id: int):
        campaign = _get(campaign_id)
        data = CampaignUpdateInput.validate_payload(request.data)
        fields, errors = _campaign_fields(data)
        campaign = services.campaign_update(campaign=campaign, **fields)
        return Response({**campaign_out(campaign), "csv_errors": errors})


ACTIONS = {
    "start": services.campaign_start,
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "cancel": services.campaign_cancel,
}


class CampaignActionView(ApiView):
    """POST /campaigns/{id}/start|pause|resume|cancel|duplicate."""

    scopes_by_method = {"POST": scopes.CAMPAIGNS_WRITE}

    @extend_schema(request=None, responses={200: CampaignOut, 201: CampaignOut})
    def post(self, request, campaign_id: int, action: str):
        campaign = _get(campaign_id)
        if action == "duplicate":
            return Response(campaign_out(services.campaign_duplicate(campaign=campaign)), status=201)
        if action not in ACTIONS:
            raise NotFound(f"Unknown action {action!r}.", code="unknown_action")
        return Response(campaign_out(ACTIONS[action](campaign=campaign)))


class CampaignStatsView(ApiView):
    scopes_by_method = {"GET": scopes.CAMPAIGNS_WRITE}

    @extend_schema(responses=StatsOut)
    def get(self, request, campaign_id: int):
        return Response(StatsOut(campaign_stats(campaign=_get(campaign_id))).data)


def recipients_csv(campaign: Campaign) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECIPIENT_CSV_COLUMNS)
    writer.writeheader()
    for recipient in recipient_list(campaign=campaign).iterator(chunk_size=2000):
        writer.writerow(recipient_row(recipient))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.id}-recipients.csv"'
    return response


class RecipientPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class CampaignRecipientsView(ApiView):
    """Every recipient's outcome: JSON pages, or the whole list as CSV (`?output=csv` or Accept: text/csv)."""

    scopes_by_method = {"GET": scopes.CAMPAIGNS_WRITE}

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, required=False, enum=Recipient.Status.values),
            OpenApiParameter("output", str, required=False, enum=["json", "csv"]),
        ],
        responses={200: OpenApiResponse(description="A page of recipients, or CSV")},
    )
    def get(self, request, campaign_id: int):
        campaign = _get(campaign_id)
        output = query_text(request.query_params, "output", 10)
        if output == "csv" or "text/csv" in request.headers.get("Accept", ""):
            return recipients_csv(campaign)
        status = query_text(request.query_params, "status", 10)
        if status and status not in Recipient.Status.values:
            raise ValidationFailed(
                "Unknown recipient status.", code="invalid_filter", details={"param": "status"}
            )
        paginator = RecipientPagination()
        page = paginator.paginate_queryset(
            recipient_list(campaign=campaign, status=status), request, view=self
        )
        return paginator.get_paginated_response([recipient_row(r) for r in page])


class AudiencePreviewView(ApiView):
    """How many recipients an audience has now (opted-out contacts and duplicates excluded)."""

    scopes_by_method = {"POST": scopes.CAMPAIGNS_WRITE}

    @extend_schema(request=PreviewInput, responses=PreviewOut)
    def post(self, request):
        data = PreviewInput.validate_payload(request.data)
        audience = audience_validate(data.get("audience") or {})
        rows, errors = csv_parse(content=data["audience_csv"]) if data.get("audience_csv") else ([], [])
        count = audience_count(audience=audience, csv_rows=rows)
        return Response({"count": count, "csv_rows": len(rows), "csv_errors": errors})
