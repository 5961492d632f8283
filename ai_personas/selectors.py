from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ai_personas.models import AISettings, AIUsageMonth, Chunk, KnowledgeBase, Persona


@dataclass(frozen=True)
class RetrievedChunk:
    id: int
    text: str
    score: float
    document_id: int
    knowledge_base_id: int


def ai_settings_get() -> AISettings:
    return AISettings.objects.first() or AISettings.objects.create()


def month_start(now=None) -> date:
    return (now or timezone.now()).date().replace(day=1)


def ai_tokens_used_this_month() -> int:
    usage = AIUsageMonth.objects.filter(month=month_start()).first()
    return usage.total_tokens if usage else 0


def ai_budget_left() -> int:
    row = AISettings.objects.values_list("monthly_token_budget", flat=True).first()
    budget = row if row is not None else AISettings._meta.get_field("monthly_token_budget").default
    return budget - ai_tokens_used_this_month()


def chunks_nearest(
    *, knowledge_base_ids: list[int], dimensions: int, vector: list[float], top_k: int, threshold: float
) -> list[RetrievedChunk]:
    """The k chunks closest by cosine to `vector` in these knowledge bases, those scoring at least
    `threshold`. The cast to vector(n) with `dimensions = n` lets PostgreSQL use that size's HNSW index."""
    if not knowledge_base_ids:
        return []
    n = int(dimensions)
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    table = Chunk._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Keep scanning when the knowledge-base filter drops candidates (pgvector >= 0.8), and a wider
        # candidate list than pgvector's default 40 (better recall for a fraction of a millisecond).
        cursor.execute(
            "SET LOCAL hnsw.iterative_scan = relaxed_order; "
            f"SET LOCAL hnsw.ef_search = {int(settings.RAG_HNSW_EF_SEARCH)}"
        )
        cursor.execute(
            "SELECT id, text, document_id, knowledge_base_id, "
            f"1 - (embedding::vector({n}) <=> %s::vector({n})) "
            f"FROM {table} WHERE dimensions = {n} AND knowledge_base_id = ANY(%s) "
            f"ORDER BY embedding::vector({n}) <=> %s::vector({n}) LIMIT %s",
            [literal, list(knowledge_base_ids), literal, int(top_k)],
        )
        rows = cursor.fetchall()
    return [
        RetrievedChunk(id=r[0], text=r[1], document_id=r[2], knowledge_base_id=r[3], score=float(r[4]))
        for r in rows
        if float(r[4]) >= threshold
    ]


def personas_for_conversation(*, channel_id: int, department_id: int | None) -> list[Persona]:
    """Active personas serving this channel (or every channel) and department (or every department)."""
    personas = []
    for persona in Persona.objects.filter(is_active=True).prefetch_related("channels", "departments"):
        channel_ids = {c.id for c in persona.channels.all()}
        department_ids = {d.id for d in persona.departments.all()}
        if channel_ids and channel_id not in channel_ids:
            continue
        if department_ids and department_id not in department_ids:
            continue
        personas.append(persona)
    return personas


def knowledge_bases_of(persona: Persona) -> list[KnowledgeBase]:
    return list(persona.knowledge_bases.select_related("provider").all())
