from django.urls import include, path

from accounts.views import LoginView, LogoutView
from campaigns.views_links import short_link
from core.admin import tenant_site
from core.views import health

urlpatterns = [
    path("", include("dashboard.urls")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("admin/", tenant_site.urls),
    path("health", health, name="health"),
    path("webhooks/", include("channels_wa.urls")),
    path("channels/", include("channels_wa.dashboard_urls")),
    path("api/v1/", include("api.urls")),
    path("automation/", include("automation.urls")),
    path("ai/", include("ai_personas.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("l/<str:code>", short_link, name="short-link"),
]
