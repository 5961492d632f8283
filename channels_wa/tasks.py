from __future__ import annotations

import hashlib
import logging

from celery import shared_task
from django.core.files.base import ContentFile
from django.db import transaction

from channels_wa.inbound import webhook_event_process, webhook_events_pending
from channels_wa.providers.base import ProviderRequestError
from channels_wa.providers.registry import provider_for

logger = logging.getLogger(__name__)

MIME_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
    "application/pdf": "pdf",
}


@shared_task(acks_late=True)
def process_webhook_event(event_id: int) -> str | None:
    return webhook_event_process(event_id=event_id)


@shared_task
def sweep_webhook_events() -> int:
    """Re-enqueue deliveries whose processing task never ran (e.g. the broker was down)."""
    ids = webhook_events_pending(older_than_s=60)
    for event_id in ids:
        process_webhook_event.delay(event_id)
    return len(ids)


@shared_task(bind=True, acks_late=True, max_retries=5)
def fetch_inbound_media(self, message_id: int) -> None:
    """Download an inbound attachment (media id → URL → bytes) into storage."""
    from inbox.models import Message

    message = Message.objects.select_related("channel").get(pk=message_id)
    if message.media_file or not message.media_provider_id:
        return
    try:
        fetched = provider_for(message.channel).fetch_media(message.media_provider_id)
    except ProviderRequestError as exc:
        # The failure is visible on the message at once, and cleared if a retry succeeds.
        Message.objects.filter(pk=message_id).update(media_error=f"{exc.error.code}: {exc.error.title}")
        if exc.error.is_transient and not self.request.is_eager and self.request.retries < self.max_retries:
            raise self.retry(countdown=2**self.request.retries * 5) from exc
        return
    mime = fetched.mime_type or message.media_mime_type
    name = fetched.filename or f"{message.media_provider_id}.{MIME_EXTENSIONS.get(mime, 'bin')}"
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        message.media_file.save(name, ContentFile(fetched.content), save=False)
        message.media_mime_type = mime
        message.media_size = len(fetched.content)
        message.media_sha256 = hashlib.sha256(fetched.content).hexdigest()
        message.media_error = ""
        message.save(
            update_fields=["media_file", "media_mime_type", "media_size", "media_sha256", "media_error"]
        )
