from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ai_personas.clients import AIProviderError
from ai_personas.forms import (
    BudgetForm,
    KnowledgeBaseForm,
    PersonaForm,
    PlaygroundForm,
    ProviderForm,
    UploadForm,
)
from ai_personas.models import AIProvider, AIReply, ConversationAI, Document, KnowledgeBase, Persona
from ai_personas.selectors import ai_settings_get, ai_tokens_used_this_month
from ai_personas.services import (
    ai_provider_save,
    ai_settings_update,
    conversation_ai_give_back,
    conversation_ai_take_over,
    document_delete,
    document_upload,
    knowledge_base_create,
    persona_playground_ask,
    persona_save,
)
from core.dashboard import company_admin_required, form_apply
from core.errors import OmniDeskError
from inbox.models import Conversation


@company_admin_required
def ai_home(request):
    provider_form = ProviderForm(prefix="provider")
    kb_form = KnowledgeBaseForm(prefix="kb")
    budget_form = BudgetForm(
        prefix="budget", initial={"monthly_token_budget": ai_settings_get().monthly_token_budget}
    )
    if request.method == "POST":
        kind = request.POST.get("form")
        saved = False
        if kind == "provider":
            provider_form = ProviderForm(request.POST, prefix="provider")
            saved = form_apply(provider_form, lambda f: ai_provider_save(provider=f.save(commit=False)))
        elif kind == "kb":
            kb_form = KnowledgeBaseForm(request.POST, prefix="kb")
            saved = form_apply(
                kb_form,
                lambda f: knowledge_base_create(**{k: f.cleaned_data[k] for k in f.Meta.fields}),
            )
        elif kind == "budget":
            budget_form = BudgetForm(request.POST, prefix="budget")
            saved = form_apply(budget_form, lambda f: ai_settings_update(**f.cleaned_data))
        if saved:
            messages.success(request, "Saved.")
            return redirect("ai_home")
    context = {
        "provider_form": provider_form,
        "kb_form": kb_form,
        "budget_form": budget_form,
        "providers": AIProvider.objects.all(),
        "personas": Persona.objects.select_related("provider"),
        "knowledge_bases": KnowledgeBase.objects.all(),
        "tokens_used": ai_tokens_used_this_month(),
        "budget": ai_settings_get().monthly_token_budget,
        "recent_replies": AIReply.objects.select_related("persona", "conversation__contact")[:20],
    }
    return render(request, "ai_personas/home.html", {"section": "ai", **context})


@company_admin_required
def persona_edit(request, persona_id: int | None = None):
    persona = get_object_or_404(Persona, pk=persona_id) if persona_id else Persona()
    form = PersonaForm(request.POST or None, instance=persona)

    def save(f):
        instance = f.save(commit=False)
        persona_save(persona=instance, save_relations=f.save_m2m)

    if request.method == "POST" and form_apply(form, save):
        messages.success(request, "Persona saved.")
        return redirect("ai_home")
    return render(
        request, "ai_personas/persona_edit.html", {"section": "ai", "form": form, "persona": persona}
    )


@company_admin_required
def knowledge_base_detail(request, kb_id: int):
    kb = get_object_or_404(KnowledgeBase, pk=kb_id)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            document_upload(
                knowledge_base=kb, filename=upload.name, data=upload.read(), title=form.cleaned_data["title"]
            )
        except OmniDeskError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(request, f"{upload.name} uploaded; it is being indexed.")
            return redirect("ai_kb", kb_id=kb.pk)
    context = {"kb": kb, "form": form, "documents": kb.documents.all()}
    return render(request, "ai_personas/kb_detail.html", {"section": "ai", **context})


@company_admin_required
@require_POST
def document_remove(request, document_id: int):
    document = get_object_or_404(Document, pk=document_id)
    kb_id = document.knowledge_base_id
    document_delete(document=document)
    return redirect("ai_kb", kb_id=kb_id)


@company_admin_required
def playground(request, persona_id: int):
    persona = get_object_or_404(Persona.objects.select_related("provider"), pk=persona_id)
    form = PlaygroundForm(request.POST or None)
    answer, error = None, ""
    if request.method == "POST" and form.is_valid():
        try:
            answer = persona_playground_ask(persona=persona, question=form.cleaned_data["question"])
        except AIProviderError as exc:
            error = f"The provider failed: {exc}"
    return render(
        request,
        "ai_personas/playground.html",
        {"section": "ai", "persona": persona, "form": form, "answer": answer, "error": error},
    )


@login_required
def ai_conversations(request):
    states = ConversationAI.objects.select_related(
        "persona", "conversation__contact", "conversation__assignee"
    )
    return render(
        request,
        "ai_personas/conversations.html",
        {
            "section": "ai-conversations",
            "states": states.order_by("-changed_at")[:200],
            "personas": Persona.objects.filter(is_active=True),
        },
    )


@login_required
@require_POST
def conversation_take_over(request, conversation_id: int):
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    conversation_ai_take_over(conversation=conversation, user=request.user)
    messages.success(request, "You have the conversation; the AI stopped.")
    return redirect("ai_conversations")


@login_required
@require_POST
def conversation_give_back(request, conversation_id: int):
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    persona_id = request.POST.get("persona")
    persona = get_object_or_404(Persona, pk=persona_id, is_active=True) if persona_id else None
    conversation_ai_give_back(conversation=conversation, persona=persona)
    messages.success(request, "The AI answers this conversation again.")
    return redirect("ai_conversations")
