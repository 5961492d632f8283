from django.urls import path
from django.views.generic import TemplateView

from channels_wa.views import meta_platform_webhook
from core.admin import platform_site
from core.views import health

urlpatterns = [
    path("", TemplateView.as_view(template_name="public/home.html"), name="public-home"),
    path("admin/", platform_site.urls),
    path("health", health, name="health"),
    path("webhooks/meta/", meta_platform_webhook, name="meta-platform-webhook"),
]
