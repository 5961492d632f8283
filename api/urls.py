from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views

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
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
