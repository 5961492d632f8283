"""Retrieval and AI reply-path speed.

    python bench/rag.py [--chunks 100000] [--queries 500] [--replies 200] [--keep]

1. Loads N chunks of 384 dimensions into one company's knowledge base (synthetic vectors clustered
   around topics, as real embeddings are, so the figures do not depend on a corpus), builds the HNSW
   cosine index, then times `chunks_nearest` (top 5) for queries near those topics: p50/p99 (target p99
   under 20 ms) and recall@5 against an exact scan.
2. Times the AI reply path around the model call: `ai_reply_generate` with the persona's knowledge base
   above, the query embedded by the local MiniLM model when installed, and the model answered by the
   loopback OpenAI stub through the real openai SDK. The overhead is the reply's total time minus the
   model call (target p99 under 100 ms), as recorded on each AIReply.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import drop_database, migrate, scratch_env  # noqa: E402

BENCH_DB = "omnidesk_bench_rag"
DIMENSIONS = 384


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def unit_vector(rng: random.Random, center: list[float] | None = None, spread: float = 1.0) -> list[float]:
    vector = [rng.gauss(0, spread) + (center[i] if center else 0.0) for i in range(DIMENSIONS)]
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


# Real embeddings cluster by topic; uniformly random vectors (no neighbours to speak of) would understate
# recall. Chunks and queries are drawn around shared topic centres.
TOPICS = 2000
TOPIC_SPREAD = 0.05


def topic_centres(rng: random.Random) -> list[list[float]]:
    return [unit_vector(rng) for _ in range(TOPICS)]


def clustered_vector(rng: random.Random, centres: list[list[float]]) -> list[float]:
    return unit_vector(rng, rng.choice(centres), TOPIC_SPREAD)


def load_chunks(kb, document, count: int, rng: random.Random, centres: list[list[float]]) -> float:
    """COPY the chunks in, then (re)build the HNSW index the migration defines, as a bulk load should."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS chunk_hnsw_{DIMENSIONS}")
        buffer = io.StringIO()
        for i in range(count):
            vector = "[" + ",".join(f"{v:.6f}" for v in clustered_vector(rng, centres)) + "]"
            buffer.write(f"{kb.id}\t{document.id}\t{i}\tsynthetic chunk {i}\t{DIMENSIONS}\t{vector}\n")
        buffer.seek(0)
        with cursor.cursor.copy(
            "COPY ai_personas_chunk (knowledge_base_id, document_id, position, text, dimensions, embedding) "
            "FROM STDIN"
        ) as copy:
            copy.write(buffer.read())
        loaded = time.perf_counter() - started
        print(f"loaded {count} chunks in {loaded:.1f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            f"CREATE INDEX chunk_hnsw_{DIMENSIONS} ON ai_personas_chunk USING hnsw "
            f"((embedding::vector({DIMENSIONS})) vector_cosine_ops) WHERE dimensions = {DIMENSIONS}"
        )
        cursor.execute("ANALYZE ai_personas_chunk")
    return time.perf_counter() - started


def bench_retrieval(kb, queries: int, rng: random.Random, centres: list[list[float]]) -> None:
    from django.db import connection, transaction

    from ai_personas.selectors import chunks_nearest

    vectors = [clustered_vector(rng, centres) for _ in range(queries)]
    for vector in vectors[:20]:  # warm the index pages
        chunks_nearest(
            knowledge_base_ids=[kb.id], dimensions=DIMENSIONS, vector=vector, top_k=5, threshold=-1
        )
    timings, results = [], []
    for vector in vectors:
        started = time.perf_counter()
        found = chunks_nearest(
            knowledge_base_ids=[kb.id], dimensions=DIMENSIONS, vector=vector, top_k=5, threshold=-1
        )
        timings.append((time.perf_counter() - started) * 1000)
        results.append({c.id for c in found})
    print(
        f"retrieval over the HNSW index, top 5: {queries} queries, p50 {statistics.median(timings):.2f} ms, "
        f"p99 {percentile(timings, 0.99):.2f} ms (target p99 < 20 ms)",
        flush=True,
    )
    hits = total = 0
    for vector, approximate in list(zip(vectors, results, strict=True))[:50]:
        literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(
                f"SELECT id FROM ai_personas_chunk WHERE dimensions = {DIMENSIONS} "
                "AND knowledge_base_id = %s "
                f"ORDER BY embedding::vector({DIMENSIONS}) <=> %s::vector({DIMENSIONS}) LIMIT 5",
                [kb.id, literal],
            )
            exact = {row[0] for row in cursor.fetchall()}
        hits += len(exact & approximate)
        total += len(exact)
    print(f"recall@5 against an exact scan (50 queries): {hits / total:.3f}", flush=True)


def bench_reply_path(kb, replies: int) -> None:
    from django.utils import timezone

    from ai_personas.clients import local_embedder_available
    from ai_personas.models import AIProvider, AIReply, KnowledgeBase, Persona
    from ai_personas.services import ai_reply_generate, conversation_ai_start
    from channels_wa.providers.base import InboundMessage
    from channels_wa.services import channel_create
    from inbox.services import inbound_message_receive
    from tests.ai_personas.stubs import start_model_stub

    stub = start_model_stub(".data/bench-rag-modelstub.log")
    stub.reply_text = "We open at 9 am."
    if not local_embedder_available():
        print("the local embedder is not installed: the reply path runs without a knowledge base", flush=True)
        KnowledgeBase.objects.filter(pk=kb.pk).update(dimensions=None)
    provider = AIProvider.objects.create(
        name="stub", kind="openai", base_url=f"{stub.base_url}/v1", api_key="k"
    )
    persona = Persona.objects.create(name="Bench", provider=provider, model="gpt-4o-mini", max_ai_turns=0)
    persona.knowledge_bases.add(kb)
    channel = channel_create(
        provider="sandbox", name="bench", external_id="990000000000001", api_base_url="http://127.0.0.1:9"
    )

    def customer_writes(i: int):
        return inbound_message_receive(
            channel=channel,
            event=InboundMessage(
                external_id=channel.external_id,
                provider_message_id=f"wamid.bench{i}",
                from_id=f"1555000{i % 50:04d}",
                from_phone=f"+1555000{i % 50:04d}",
                profile_name="Bench",
                timestamp=timezone.now(),
                kind="text",
                text=f"What time do you open on day {i}?",
            ),
        )

    if local_embedder_available():
        from ai_personas.clients import embed_texts

        timings = []
        for i in range(replies):
            started = time.perf_counter()
            embed_texts(kind="local", texts=[f"What time do you open on day {i}?"])
            timings.append((time.perf_counter() - started) * 1000)
        print(
            "local MiniLM query embedding alone (part of the reply path): "
            f"p50 {statistics.median(timings):.0f} ms, "
            f"p99 {percentile(timings, 0.99):.0f} ms",
            flush=True,
        )
    started_at = timezone.now()
    for i in range(replies + 10):
        message = customer_writes(i)
        conversation_ai_start(conversation=message.conversation, persona=persona)
        reply = ai_reply_generate(inbound_message_id=message.id)
        assert reply.status == AIReply.Status.SENT, (reply.status, reply.error, reply.handoff_reason)
    rows = list(
        AIReply.objects.filter(created_at__gte=started_at)
        .order_by("created_at")[10:]  # after warm-up
        .values_list("overhead_ms", "model_latency_ms")
    )
    overheads = [r[0] for r in rows]
    models = [r[1] for r in rows]
    print(
        f"AI reply path around the model call: {len(rows)} replies, "
        f"overhead p50 {statistics.median(overheads):.0f} ms, "
        f"p99 {percentile(overheads, 0.99):.0f} ms (target p99 < 100 ms); "
        f"model call (loopback stub) p50 {statistics.median(models):.0f} ms",
        flush=True,
    )
    stub.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    base_url, env = scratch_env(database=BENCH_DB, redis_db=12)
    print(f"scratch database {BENCH_DB}; migrate took {migrate(env):.1f} s", flush=True)
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from ai_personas.models import Document, KnowledgeBase
    from tenants.services import company_create

    company_create(
        name="RAG bench", slug="ragbench", owner_email="owner@rag.test", owner_password="bench-pass-1"
    )
    rng = random.Random(7)
    try:
        with schema_context("ragbench"):
            kb = KnowledgeBase.objects.create(name="bench", embedder="local", dimensions=DIMENSIONS)
            document = Document.objects.create(
                knowledge_base=kb, title="synthetic", content_type="txt", status="ready"
            )
            centres = topic_centres(rng)
            index_s = load_chunks(kb, document, args.chunks, rng, centres)
            print(f"HNSW index built in {index_s:.1f} s", flush=True)
            bench_retrieval(kb, args.queries, rng, centres)
            bench_reply_path(kb, args.replies)
    finally:
        if not args.keep:
            drop_database(base_url, BENCH_DB)


if __name__ == "__main__":
    main()
