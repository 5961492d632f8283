from django.urls import path

from channels_wa.views import channel_webhook

urlpatterns = [
    path(
        "whatsapp/<uuid:channel_uuid>/",
        channel_webhook,
        {"path_kind": "whatsapp"},
        name="whatsapp-channel-webhook",
    ),
    path(
        "twilio/<uuid:channel_uuid>/", channel_webhook, {"path_kind": "twilio"}, name="twilio-channel-webhook"
    ),
    path(
        "messenger/<uuid:channel_uuid>/",
        channel_webhook,
        {"path_kind": "messenger"},
        name="messenger-channel-webhook",
    ),
]
