from django.urls import path

from channels_wa.views import whatsapp_channel_webhook

urlpatterns = [
    path("whatsapp/<uuid:channel_uuid>/", whatsapp_channel_webhook, name="whatsapp-channel-webhook"),
]
