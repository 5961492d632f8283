from django.urls import path

from campaigns import api

urlpatterns = [
    path("campaigns", api.CampaignsView.as_view(), name="api-campaigns"),
    path("campaigns/audience-preview", api.AudiencePreviewView.as_view(), name="api-campaigns-preview"),
    path("campaigns/<int:campaign_id>", api.CampaignDetailView.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/stats", api.CampaignStatsView.as_view(), name="api-campaign-stats"),
    path(
        "campaigns/<int:campaign_id>/recipients",
        api.CampaignRecipientsView.as_view(),
        name="api-campaign-recipients",
    ),
    path(
        "campaigns/<int:campaign_id>/<str:action>",
        api.CampaignActionView.as_view(),
        name="api-campaign-action",
    ),
]
