from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from inbox.services import PACED, DeliveryOutcome, message_deliver

MAX_SEND_ATTEMPTS = 6


@shared_task(bind=True, acks_late=True, max_retries=MAX_SEND_ATTEMPTS - 1)
def deliver_message(self, message_id: int) -> str:
    from channels_wa.pacing import send_slot_wait
    from inbox.models import Message

    message = Message.objects.select_related("channel").filter(pk=message_id).first()
    if message is not None and not send_slot_wait(channel=message.channel, max_wait_s=5):
        raise self.retry(countdown=1)  # the channel's pace is taken (e.g. by a campaign): wait a moment
    outcome, error = message_deliver(
        message_id=message_id, is_last_attempt=self.request.retries >= MAX_SEND_ATTEMPTS - 1
    )
    if outcome == DeliveryOutcome.RETRY:
        if error.code == PACED:  # held back until the cap resets or quiet hours end; not an attempt
            if self.request.is_eager:  # inline runs cannot wait; the queued-message sweeper resends it
                return outcome
            raise self.retry(countdown=max(1.0, error.retry_after_s or 60), max_retries=None)
        delay_s = max(error.retry_after_s or 0, 2**self.request.retries)
        raise self.retry(countdown=delay_s)
    return outcome


@shared_task(acks_late=True)
def send_read_receipt(message_id: int) -> str:
    """Best effort: a read receipt that fails is not worth retrying after the customer wrote again."""
    from channels_wa.providers.registry import provider_for
    from inbox.models import Message

    message = Message.objects.select_related("channel").get(pk=message_id)
    provider = provider_for(message.channel)
    try:
        result = provider.mark_read(message.provider_message_id)
    finally:
        provider.close()
    return "ok" if result.is_ok else f"{result.error.code}: {result.error.title}"


@shared_task(acks_late=True)
def refresh_contact_profile(contact_id: int, channel_id: int) -> None:
    """The customer's name and picture from the provider's profile API (Messenger, Instagram)."""
    from inbox.services import contact_profile_refresh

    contact_profile_refresh(contact_id=contact_id, channel_id=channel_id)


@shared_task
def sweep_queued_messages() -> int:
    """Re-enqueue messages left queued (their task was lost); claiming keeps each sent once."""
    from inbox.models import Message

    cutoff = timezone.now() - timedelta(minutes=2)
    count = 0
    for schema in get_tenant_model().objects.filter(status="active").values_list("schema_name", flat=True):
        with schema_context(schema):
            # Campaign messages are paced and retried by their dispatcher, never by this sweep.
            stale = Message.objects.filter(status="queued", created_at__lt=cutoff).exclude(
                payload__has_key="campaign_id"
            )
            for message_id in stale.values_list("id", flat=True)[:500]:
                deliver_message.delay(message_id)
                count += 1
    return count
