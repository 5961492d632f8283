from django.urls import path

from campaigns import views

urlpatterns = [
    path("", views.campaign_index, name="campaign-list"),
    path("new/", views.campaign_new, name="campaign-new"),
    path("preview/", views.audience_preview, name="campaign-preview"),
    path("<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("<int:campaign_id>/recipients.csv", views.campaign_export, name="campaign-export"),
    path("<int:campaign_id>/<str:action>/", views.campaign_action, name="campaign-action"),
]
