from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views, views_directory, views_webhooks

urlpatterns = [
    path("me", views.MeView.as_view(), name="api-me"),
    path("messages", views.MessagesView.as_view(), name="api-messages"),
    path("messages/<int:message_id>", views.MessageDetailView.as_view(), name="api-message"),
    path("conversations", views.ConversationsView.as_view(), name="api-conversations"),
    path(
        "conversations/<int:conversation_id>", views.ConversationDetailView.as_view(), name="api-conversation"
    ),
    path(
        "conversations/<int:conversation_id>/messages",
        views.ConversationMessagesView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/notes",
        views.ConversationNotesView.as_view(),
        name="api-conversation-notes",
    ),
    path("contacts", views_directory.ContactsView.as_view(), name="api-contacts"),
    path("contacts/import", views_directory.ContactImportView.as_view(), name="api-contacts-import"),
    path("contacts/<int:contact_id>", views_directory.ContactDetailView.as_view(), name="api-contact"),
    path(
        "contacts/<int:contact_id>/merge",
        views_directory.ContactMergeView.as_view(),
        name="api-contact-merge",
    ),
    path("channels", views_directory.ChannelsView.as_view(), name="api-channels"),
    path("channels/<int:channel_id>", views_directory.ChannelDetailView.as_view(), name="api-channel"),
    path(
        "channels/<int:channel_id>/status",
        views_directory.ChannelStatusView.as_view(),
        name="api-channel-status",
    ),
    path(
        "channels/<int:channel_id>/templates",
        views_directory.ChannelTemplatesView.as_view(),
        name="api-channel-templates",
    ),
    path(
        "channels/<int:channel_id>/templates/sync",
        views_directory.ChannelTemplatesSyncView.as_view(),
        name="api-channel-templates-sync",
    ),
    path("webhooks", views_webhooks.WebhooksView.as_view(), name="api-webhooks"),
    path("webhooks/<int:endpoint_id>", views_webhooks.WebhookDetailView.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:endpoint_id>/deliveries",
        views_webhooks.WebhookDeliveriesView.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/<int:endpoint_id>/test", views_webhooks.WebhookTestView.as_view(), name="api-webhook-test"
    ),
    path(
        "webhook-deliveries/<uuid:delivery_id>/retry",
        views_webhooks.DeliveryRetryView.as_view(),
        name="api-webhook-delivery-retry",
    ),
    path("", include("campaigns.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
