from __future__ import annotations

from celery import shared_task

from ai_personas.services import ai_reply_generate, document_ingest


@shared_task(acks_late=True)
def generate_ai_reply(message_id: int) -> str:
    """Runs on the `ai` queue so slow model calls never hold up message delivery."""
    reply = ai_reply_generate(inbound_message_id=message_id)
    return reply.status if reply else "skipped"


@shared_task(acks_late=True)
def ingest_document(document_id: int) -> str:
    return document_ingest(document_id=document_id).status
