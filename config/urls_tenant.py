from django.urls import include, path

from accounts.views import LoginView, LogoutView, home
from campaigns.views_links import short_link
from core.admin import tenant_site
from core.views import health

urlpatterns = [
    path("", home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("admin/", tenant_site.urls),
    path("health", health, name="health"),
    path("webhooks/", include("channels_wa.urls")),
    path("api/v1/", include("api.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("l/<str:code>", short_link, name="short-link"),
]
