from django.urls import path

from ai_personas import views

urlpatterns = [
    path("", views.ai_home, name="ai_home"),
    path("personas/new/", views.persona_edit, name="ai_persona_new"),
    path("personas/<int:persona_id>/", views.persona_edit, name="ai_persona_edit"),
    path("personas/<int:persona_id>/playground/", views.playground, name="ai_playground"),
    path("knowledge/<int:kb_id>/", views.knowledge_base_detail, name="ai_kb"),
    path("documents/<int:document_id>/delete/", views.document_remove, name="ai_document_delete"),
    path("conversations/", views.ai_conversations, name="ai_conversations"),
    path("conversations/<int:conversation_id>/take-over/", views.conversation_take_over, name="ai_take_over"),
    path("conversations/<int:conversation_id>/give-back/", views.conversation_give_back, name="ai_give_back"),
]
