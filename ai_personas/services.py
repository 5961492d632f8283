"""Knowledge bases, retrieval and AI replies."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import F

from ai_personas import clients
from ai_personas.clients import AIProviderError, ChatMessage
from ai_personas.documents import DocumentUnreadable, content_type_for, document_chunks
from ai_personas.models import (
    AIProvider,
    AIReply,
    AIUsageMonth,
    Chunk,
    ConversationAI,
    Document,
    KnowledgeBase,
    Persona,
)
from ai_personas.selectors import (
    RetrievedChunk,
    ai_budget_left,
    chunks_nearest,
    knowledge_bases_of,
    month_start,
)
from core.errors import BusinessRuleViolation, OmniDeskError, ValidationFailed
from core.jobs import enqueue_on_commit
from inbox.models import Conversation, Message

logger = logging.getLogger(__name__)

EMBED_BATCH = 64
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# The model is told to answer this when the documents do not hold the answer.
HANDOFF_MARKER = "[HANDOFF]"
UNKNOWN_PHRASES = ("i don't know", "i do not know", "i dont know", "i'm not sure", "no lo sé", "no sé")


def normalize_text(text: str) -> str:
    """Case- and accent-insensitive form: 'Café ÁGENTE' → 'cafe agente'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Knowledge bases -------------------------------------------------------------------------------------


def knowledge_base_create(
    *,
    name: str,
    embedder: str = KnowledgeBase.Embedder.LOCAL,
    provider=None,
    embedding_model: str = "",
    chunk_size: int = 800,
    chunk_overlap: int = 150,
) -> KnowledgeBase:
    if embedder not in KnowledgeBase.Embedder.values:
        raise ValidationFailed(f"Unknown embedder {embedder!r}.", code="invalid_embedder")
    if embedder != KnowledgeBase.Embedder.LOCAL and provider is None:
        raise ValidationFailed("This embedder needs a provider account.", code="provider_required")
    if chunk_size < 100 or chunk_overlap >= chunk_size:
        raise ValidationFailed(
            "Chunks need at least 100 characters and a smaller overlap.", code="invalid_chunking"
        )
    return KnowledgeBase.objects.create(
        name=name,
        embedder=embedder,
        provider=provider,
        embedding_model=embedding_model,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
    )


def _embed(knowledge_base: KnowledgeBase, texts: list[str]) -> list[list[float]]:
    provider = knowledge_base.provider
    return clients.embed_texts(
        kind=knowledge_base.embedder,
        texts=texts,
        model=knowledge_base.embedding_model,
        api_key=provider.api_key if provider else "",
        base_url=provider.base_url if provider else "",
        timeout_s=provider.timeout_s if provider else 30,
    )


def document_upload(
    *, knowledge_base: KnowledgeBase, filename: str, data: bytes, title: str = ""
) -> Document:
    """Store the file; a worker extracts, chunks and embeds it after commit."""
    try:
        content_type = content_type_for(filename)
    except DocumentUnreadable as exc:
        raise ValidationFailed(str(exc), code="unsupported_document") from exc
    if not data:
        raise ValidationFailed("The file is empty.", code="empty_document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed("Documents are limited to 20 MB.", code="document_too_large")
    document = Document(knowledge_base=knowledge_base, title=title or filename, content_type=content_type)
    document.file.save(filename, ContentFile(data), save=False)
    document.save()
    from ai_personas.tasks import ingest_document

    enqueue_on_commit(ingest_document, document.id)
    return document


def document_ingest(*, document_id: int) -> Document:
    """Extract, chunk, embed and store one document; a failure is recorded on the document."""
    document = Document.objects.select_related("knowledge_base__provider").get(pk=document_id)
    knowledge_base = document.knowledge_base
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
        texts = document_chunks(
            data=data,
            content_type=document.content_type,
            size=knowledge_base.chunk_size,
            overlap=knowledge_base.chunk_overlap,
        )
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors.extend(_embed(knowledge_base, texts[start : start + EMBED_BATCH]))
    except (DocumentUnreadable, AIProviderError, OSError) as exc:
        Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=str(exc)[:2000])
        document.refresh_from_db()
        return document
    dimensions = len(vectors[0])
    with transaction.atomic():
        knowledge_base = KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)
        if knowledge_base.dimensions is None:
            knowledge_base.dimensions = dimensions
            knowledge_base.save(update_fields=["dimensions"])
        elif knowledge_base.dimensions != dimensions:
            document.status = Document.Status.FAILED
            document.error = (
                f"The embedder returned {dimensions} dimensions; this knowledge base holds "
                f"{knowledge_base.dimensions}."
            )
            document.save(update_fields=["status", "error"])
            return document
        document.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(
                knowledge_base=knowledge_base,
                document=document,
                position=i,
                text=text,
                dimensions=dimensions,
                embedding=vector,
            )
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
        )
        document.status, document.error, document.chunk_count = Document.Status.READY, "", len(texts)
        document.save(update_fields=["status", "error", "chunk_count"])
    return document


def document_delete(*, document: Document) -> None:
    document.file.delete(save=False)
    document.delete()


def knowledge_retrieve(*, persona: Persona, query: str) -> list[RetrievedChunk]:
    """The persona's top-k chunks for a question, across its knowledge bases, above its threshold."""
    groups: dict[tuple, list[KnowledgeBase]] = {}
    for kb in knowledge_bases_of(persona):
        if kb.dimensions:
            groups.setdefault((kb.embedder, kb.provider_id, kb.embedding_model, kb.dimensions), []).append(kb)
    found: list[RetrievedChunk] = []
    for (_, _, _, dimensions), kbs in groups.items():
        vector = _embed(kbs[0], [query])[0]
        found.extend(
            chunks_nearest(
                knowledge_base_ids=[kb.id for kb in kbs],
                dimensions=dimensions,
                vector=vector,
                top_k=persona.top_k,
                threshold=persona.score_threshold,
            )
        )
    return sorted(found, key=lambda c: c.score, reverse=True)[: persona.top_k]


# Conversations handled by a persona -------------------------------------------------------------------


def _emit_ai_state(conversation: Conversation) -> None:
    from inbox.events import emit_conversation

    emit_conversation("conversation.updated", conversation)


def conversation_ai_start(*, conversation: Conversation, persona: Persona) -> ConversationAI:
    state, _ = ConversationAI.objects.update_or_create(
        conversation=conversation,
        defaults={"persona": persona, "is_active": True, "ai_turns": 0, "handoff_reason": ""},
    )
    _emit_ai_state(conversation)
    return state


def conversation_ai_take_over(*, conversation: Conversation, user) -> ConversationAI | None:
    """An agent takes the conversation: the AI stops answering it."""
    state = ConversationAI.objects.filter(conversation=conversation).first()
    if state is None or not state.is_active:
        return state
    state.is_active = False
    state.handoff_reason = f"Taken over by {user.name or user.email}" if user else "Taken over"
    state.save(update_fields=["is_active", "handoff_reason", "changed_at"])
    if user is not None and conversation.assignee_id is None:
        conversation.assignee = user
        conversation.save(update_fields=["assignee", "updated_at"])
    _emit_ai_state(conversation)
    return state


def conversation_ai_give_back(
    *, conversation: Conversation, persona: Persona | None = None
) -> ConversationAI:
    """The agent hands the conversation back to the AI (its turn count starts again)."""
    state = ConversationAI.objects.filter(conversation=conversation).first()
    persona = persona or (state.persona if state else None)
    if persona is None:
        raise ValidationFailed("Choose a persona to hand the conversation to.", code="persona_required")
    return conversation_ai_start(conversation=conversation, persona=persona)


def ai_reply_enqueue(*, message: Message) -> None:
    from ai_personas.tasks import generate_ai_reply

    enqueue_on_commit(generate_ai_reply, message.id)


# Replies ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    text: str
    chunks: list[RetrievedChunk]
    prompt_tokens: int
    completion_tokens: int
    model_latency_ms: int
    attempts: int


def _system_prompt(persona: Persona, chunks: list[RetrievedChunk]) -> str:
    parts = [
        persona.system_prompt.strip() or f"You are {persona.name}, a helpful customer service assistant."
    ]
    if persona.language:
        parts.append(f"Always answer in this language: {persona.language}.")
    parts.append(
        "Answer only from the company documents below. If they do not contain the answer, reply with "
        f"exactly {HANDOFF_MARKER} and nothing else."
    )
    if chunks:
        parts.append("Company documents:\n" + "\n---\n".join(c.text for c in chunks))
    else:
        parts.append("Company documents: (none match this question)")
    return "\n\n".join(parts)


def _history(conversation: Conversation, *, upto: Message, limit: int) -> list[ChatMessage]:
    rows = list(
        conversation.messages.filter(created_at__lte=upto.created_at)
        .exclude(body="")
        .order_by("-created_at", "-id")
        .values_list("direction", "body")[: max(limit, 1)]
    )
    return [
        ChatMessage(role="user" if direction == Message.Direction.INBOUND else "assistant", text=body)
        for direction, body in reversed(rows)
    ]


def persona_answer(*, persona: Persona, history: list[ChatMessage], question: str) -> Answer:
    """Retrieve, prompt and call the provider with a timeout, retrying transient failures."""
    chunks = knowledge_retrieve(persona=persona, query=question) if question.strip() else []
    provider = persona.provider
    attempts = settings.AI_MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            result = clients.chat_complete(
                kind=provider.kind,
                api_key=provider.api_key,
                base_url=provider.base_url,
                timeout_s=provider.timeout_s,
                model=persona.model,
                system_prompt=_system_prompt(persona, chunks),
                messages=history,
                temperature=persona.temperature,
                max_tokens=persona.max_tokens,
            )
        except AIProviderError as exc:
            if not exc.is_transient or attempt == attempts:
                exc.attempts = attempt
                raise
            time.sleep(settings.AI_RETRY_BACKOFF_S * 2 ** (attempt - 1))
            continue
        return Answer(
            text=result.text,
            chunks=chunks,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            model_latency_ms=result.latency_ms,
            attempts=attempt,
        )
    raise AssertionError("unreachable")


def persona_playground_ask(*, persona: Persona, question: str) -> Answer:
    """The dashboard's playground: the same retrieval and prompt as a real reply; nothing is sent."""
    if not question.strip():
        raise ValidationFailed("Ask a question.", code="empty_question")
    answer = persona_answer(
        persona=persona, history=[ChatMessage(role="user", text=question)], question=question
    )
    _usage_add(answer.prompt_tokens, answer.completion_tokens, replies=0)
    return answer


def _usage_add(prompt_tokens: int, completion_tokens: int, *, replies: int = 1) -> None:
    """One upsert: concurrent replies add up without a lost update."""
    table = AIUsageMonth._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (month, prompt_tokens, completion_tokens, replies) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (month) DO UPDATE SET "
            f"prompt_tokens = {table}.prompt_tokens + EXCLUDED.prompt_tokens, "
            f"completion_tokens = {table}.completion_tokens + EXCLUDED.completion_tokens, "
            f"replies = {table}.replies + EXCLUDED.replies",
            [month_start(), prompt_tokens, completion_tokens, replies],
        )


def _says_unknown(text: str) -> bool:
    if not text or HANDOFF_MARKER.lower() in text.lower():
        return True
    normalized = normalize_text(text).replace("’", "'")
    return any(normalize_text(p) in normalized for p in UNKNOWN_PHRASES)


def keyword_in(text: str, keywords: list[str]) -> str | None:
    words = set(re.findall(r"\w+", normalize_text(text)))
    normalized = normalize_text(text)
    for keyword in keywords:
        key = normalize_text(keyword).strip()
        if key and (key in words or (" " in key and key in normalized)):
            return keyword
    return None


def _hand_over(*, reply: AIReply, state: ConversationAI, reason: str) -> AIReply:
    """The AI stops; the customer is told a person will answer and the conversation goes to a department."""
    from inbox.services import conversation_assign, message_send

    persona = state.persona
    conversation = reply.conversation
    with transaction.atomic():
        state.is_active = False
        state.handoff_reason = reason
        state.save(update_fields=["is_active", "handoff_reason", "changed_at"])
        reply.status, reply.handoff_reason = AIReply.Status.HANDOFF, reason
        if persona.handoff_message.strip():
            try:
                with transaction.atomic():
                    reply.message = message_send(
                        conversation=conversation,
                        text=persona.handoff_message,
                        sender_kind=Message.SenderKind.AI,
                    )
            except OmniDeskError as exc:
                reply.error = f"{exc.code}: {exc.message}"
        reply.save()
        if persona.handoff_department_id:
            conversation_assign(
                conversation=conversation,
                assignee=conversation.assignee,
                department_id=persona.handoff_department_id,
            )
        else:
            _emit_ai_state(conversation)
    return reply


def ai_reply_generate(*, inbound_message_id: int) -> AIReply | None:
    """Answer one customer message for the persona handling its conversation; every outcome is recorded
    on an AIReply (sent, handed over, failed)."""
    from inbox.services import message_send

    started = time.perf_counter()
    message = Message.objects.select_related("conversation").get(pk=inbound_message_id)
    conversation = message.conversation
    state = (
        ConversationAI.objects.select_related("persona__provider").filter(conversation=conversation).first()
    )
    if state is None or not state.is_active or not state.persona.is_active:
        return None
    reply, created = AIReply.objects.get_or_create(
        inbound_message=message, defaults={"conversation": conversation, "persona": state.persona}
    )
    if not created and reply.status != AIReply.Status.PENDING:
        return reply  # a redelivered task: this message was answered already
    persona = state.persona
    matched = keyword_in(message.body, persona.handoff_keywords)
    if matched:
        return _hand_over(reply=reply, state=state, reason=f"The customer asked for a person ({matched!r})")
    if persona.max_ai_turns and state.ai_turns >= persona.max_ai_turns:
        return _hand_over(reply=reply, state=state, reason=f"{persona.max_ai_turns} AI turns reached")
    if ai_budget_left() <= 0:
        return _hand_over(reply=reply, state=state, reason="The monthly AI token budget is spent")
    if not message.body.strip():
        return _hand_over(reply=reply, state=state, reason=f"The AI cannot read a {message.kind} message")
    history = _history(conversation, upto=message, limit=persona.history_messages)
    try:
        answer = persona_answer(persona=persona, history=history, question=message.body)
    except AIProviderError as exc:
        reply.attempts = getattr(exc, "attempts", 1)
        reply.error = str(exc)[:2000]
        return _hand_over(reply=reply, state=state, reason=f"The AI provider failed: {str(exc)[:120]}")
    except Exception as exc:  # a person must take over rather than the customer waiting on a dead job
        logger.exception("AI reply for message %s failed", message.pk)
        reply.error = f"{type(exc).__name__}: {exc}"[:2000]
        return _hand_over(reply=reply, state=state, reason="The AI reply failed unexpectedly")
    reply.attempts = answer.attempts
    reply.answer = answer.text
    reply.prompt_tokens, reply.completion_tokens = answer.prompt_tokens, answer.completion_tokens
    reply.model_latency_ms = answer.model_latency_ms
    reply.chunk_scores = {str(c.id): round(c.score, 4) for c in answer.chunks}
    _usage_add(answer.prompt_tokens, answer.completion_tokens)
    AIReply.chunks.through.objects.bulk_create(
        [AIReply.chunks.through(aireply_id=reply.pk, chunk_id=c.id) for c in answer.chunks],
        ignore_conflicts=True,
    )
    if persona.handoff_on_unknown and _says_unknown(answer.text):
        result = _hand_over(reply=reply, state=state, reason="The AI did not know the answer")
    else:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    reply.message = message_send(
                        conversation=conversation, text=answer.text, sender_kind=Message.SenderKind.AI
                    )
                reply.status = AIReply.Status.SENT
                ConversationAI.objects.filter(pk=state.pk).update(ai_turns=F("ai_turns") + 1)
            except BusinessRuleViolation as exc:
                reply.status, reply.error = AIReply.Status.FAILED, f"{exc.code}: {exc.message}"
            reply.save()
        result = reply
    elapsed_ms = (time.perf_counter() - started) * 1000
    AIReply.objects.filter(pk=reply.pk).update(
        overhead_ms=max(0, round(elapsed_ms - (reply.model_latency_ms or 0)))
    )
    return result


def ai_settings_update(*, monthly_token_budget: int) -> None:
    from ai_personas.selectors import ai_settings_get

    ai_settings = ai_settings_get()
    ai_settings.monthly_token_budget = monthly_token_budget
    ai_settings.save(update_fields=["monthly_token_budget"])


def ai_provider_save(*, provider: AIProvider) -> AIProvider:
    if provider.kind not in AIProvider.Kind.values:
        raise ValidationFailed(f"Unknown provider kind {provider.kind!r}.", code="invalid_provider")
    provider.save()
    return provider


def persona_save(*, persona: Persona, save_relations=None) -> Persona:
    """Save a persona (and its channels, departments and knowledge bases through `save_relations`)."""
    if not 0 <= persona.temperature <= 2:
        raise ValidationFailed("Temperature goes from 0 to 2.", code="invalid_temperature")
    if not 0 <= persona.score_threshold <= 1:
        raise ValidationFailed("The score threshold goes from 0 to 1.", code="invalid_threshold")
    with transaction.atomic():
        persona.save()
        if save_relations is not None:
            save_relations()
    return persona
