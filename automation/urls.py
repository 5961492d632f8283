from django.urls import path

from automation import views

urlpatterns = [
    path("", views.automation_home, name="automation_home"),
    path("rules/<int:rule_id>/", views.rule_edit, name="automation_rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="automation_rule_delete"),
    path(
        "integrations/<int:integration_id>/delete/",
        views.integration_delete,
        name="automation_integration_delete",
    ),
]
