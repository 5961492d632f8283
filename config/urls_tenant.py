from django.urls import include, path

from accounts.views import LoginView, LogoutView
from campaigns.views_links import short_link
from core.admin import tenant_site
from core.views import health

urlpatterns = [
    # First: the API is the hot path, and Django tries the patterns in order (the dashboard's ~30 patterns
    # before it cost ~0.25 ms of CPU per API request). No other pattern starts with api/v1/.
    path("api/v1/", include("api.urls")),
    path("", include("dashboard.urls")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("admin/", tenant_site.urls),
    path("health", health, name="health"),
    path("webhooks/", include("channels_wa.urls")),
    path("channels/", include("channels_wa.dashboard_urls")),
    path("automation/", include("automation.urls")),
    path("ai/", include("ai_personas.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("l/<str:code>", short_link, name="short-link"),
]
