"""Knowledge bases: every upload format, chunking with overlap, embeddings in pgvector, retrieval."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from ai_personas.documents import DocumentUnreadable, chunk_text, document_sections
from ai_personas.models import AIProvider, Chunk, Document, Persona
from ai_personas.services import document_upload, knowledge_base_create, knowledge_retrieve


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in a Helvetica text object, with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize(
    ("content_type", "data", "expected"),
    [
        ("txt", "Plain café text.".encode(), ["Plain café text."]),
        ("md", b"# Returns\n\nSee **our** [policy](http://x).", ["Returns\n\nSee our policy."]),
        (
            "html",
            b"<html><head><style>p{}</style></head><body><h1>Hours</h1><p>Open&nbsp;9&ndash;5</p>"
            b"<script>alert(1)</script></body></html>",
            ["Hours\n\nOpen\xa09\u20135"],
        ),
        (
            "csv",
            b"Question,Answer\nDo you ship abroad?,Yes to 30 countries.\nCan I pay cash?,Only in store.\n",
            ["Q: Do you ship abroad?\nA: Yes to 30 countries.", "Q: Can I pay cash?\nA: Only in store."],
        ),
        ("pdf", tiny_pdf("Warranty lasts two years"), ["Warranty lasts two years"]),
    ],
)
def test_every_format_becomes_text(content_type, data, expected):
    assert document_sections(data=data, content_type=content_type) == expected


def test_broken_and_empty_documents_are_refused():
    with pytest.raises(DocumentUnreadable):
        document_sections(data=b"%PDF-1.4 garbage", content_type="pdf")
    with pytest.raises(DocumentUnreadable):
        document_sections(data=b"  \n ", content_type="txt")


def test_chunks_overlap_and_cover_the_text():
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = chunk_text(text, size=200, overlap=50)
    assert len(chunks) > 5 and all(len(c) <= 200 for c in chunks)
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert previous[-30:].split()[-1] in following  # the next chunk repeats the end of this one
    assert "Sentence number 59 is here." in chunks[-1] and chunks[0].startswith("Sentence number 0")


def test_a_failed_document_says_why(alpha, django_capture_on_commit_callbacks):
    with schema_context("alpha"):
        kb = knowledge_base_create(name="Docs")
        with django_capture_on_commit_callbacks(execute=True):
            document = document_upload(knowledge_base=kb, filename="broken.pdf", data=b"%PDF-1.4 nope")
        document.refresh_from_db()
        assert document.status == Document.Status.FAILED and "PDF" in document.error


FAQ = (
    "question,answer\n"
    "What are your opening hours?,We are open from 9 am to 6 pm Monday to Saturday and closed on Sunday.\n"
    "How do I return a product?,Bring the item and the receipt to any store within 30 days for a refund.\n"
    "How long does delivery take?,Standard shipping takes three to five working days.\n"
    "Which payment methods do you accept?,We accept credit cards and bank transfers.\n"
    "Do you have a loyalty programme?,Members collect one point per euro spent and get birthday discounts.\n"
    "Where is your warehouse?,Our warehouse is in Rotterdam near the port.\n"
    "Can I change my password?,Open account settings and choose reset password to receive an email link.\n"
    "Do you sell gift cards?,Gift cards from 10 to 200 euros are sold online and in every store.\n"
)
QUESTIONS = {
    "when do you open on saturday": "opening hours",
    "i want my money back for a jacket": "return a product",
    "how many days until my parcel arrives": "delivery take",
    "can I pay with visa": "payment methods",
    "I forgot my login password": "change my password",
    "present voucher for a friend": "gift cards",
}


def test_local_embedder_finds_the_right_faq_entry_in_the_top_3(alpha, django_capture_on_commit_callbacks):
    """The real offline MiniLM model (384 dimensions) and the HNSW index."""
    with schema_context("alpha"):
        provider = AIProvider.objects.create(name="none", kind="openai")
        kb = knowledge_base_create(name="FAQ")
        with django_capture_on_commit_callbacks(execute=True):
            document_upload(knowledge_base=kb, filename="faq.csv", data=FAQ.encode())
        kb.refresh_from_db()
        assert kb.dimensions == 384 and kb.chunks.count() == 8
        persona = Persona.objects.create(
            name="Ava", provider=provider, model="m", top_k=3, score_threshold=0.1
        )
        persona.knowledge_bases.add(kb)
        for question, expected in QUESTIONS.items():
            found = knowledge_retrieve(persona=persona, query=question)
            assert any(expected in c.text for c in found), (question, [c.text[:40] for c in found])
            assert found == sorted(found, key=lambda c: -c.score) and len(found) <= 3
        # nothing unrelated clears a high threshold
        persona.score_threshold = 0.9
        assert knowledge_retrieve(persona=persona, query="quantum chromodynamics lattice") == []


def test_retrieval_uses_the_hnsw_index(alpha):
    with schema_context("alpha"), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        vector = "[" + ",".join(["0.1"] * 384) + "]"
        cursor.execute(
            "EXPLAIN SELECT id FROM ai_personas_chunk WHERE dimensions = 384 "
            "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 5",
            [vector],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "chunk_hnsw_384" in plan


def test_a_persona_of_one_company_never_retrieves_another_company_s_chunks(
    alpha, beta, model_stub, django_capture_on_commit_callbacks
):
    def setup(schema: str, text: str):
        with schema_context(schema):
            provider = AIProvider.objects.create(
                name="stub", kind="openai", base_url=f"{model_stub.base_url}/v1"
            )
            with django_capture_on_commit_callbacks(execute=True):
                kb = knowledge_base_create(name="Docs", embedder="openai", provider=provider)
                document_upload(knowledge_base=kb, filename="doc.txt", data=text.encode())
            persona = Persona.objects.create(name="P", provider=provider, model="m", score_threshold=0.0)
            persona.knowledge_bases.add(kb)
            return persona, kb

    alpha_persona, alpha_kb = setup("alpha", "Alpha secret: the discount code is ALPHA10.")
    beta_persona, beta_kb = setup(
        "beta", "Beta secret: the discount code is BETA20 for discount code askers."
    )
    with schema_context("alpha"):
        found = knowledge_retrieve(persona=alpha_persona, query="what is the discount code")
        assert found and all("ALPHA10" in c.text for c in found)
        assert not Chunk.objects.filter(text__contains="BETA20").exists()
    with schema_context("beta"):
        found = knowledge_retrieve(persona=beta_persona, query="what is the discount code")
        assert found and all("BETA20" in c.text for c in found)
