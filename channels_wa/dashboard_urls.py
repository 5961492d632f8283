from django.urls import path

from channels_wa import dashboard

urlpatterns = [
    path("qr/new/", dashboard.qr_channel_new, name="qr-channel-new"),
    path("<int:channel_id>/qr/", dashboard.qr_session_page, name="qr-session"),
    path("<int:channel_id>/qr/status/", dashboard.qr_session_status, name="qr-session-status"),
    path("<int:channel_id>/qr/pair/", dashboard.qr_session_pair, name="qr-session-pair"),
    path("<int:channel_id>/qr/restart/", dashboard.qr_session_restart, name="qr-session-restart"),
    path("<int:channel_id>/qr/logout/", dashboard.qr_session_logout, name="qr-session-logout"),
    path("<int:channel_id>/qr/settings/", dashboard.qr_session_settings, name="qr-session-settings"),
]
