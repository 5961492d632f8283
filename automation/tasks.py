from __future__ import annotations

from celery import shared_task
from django_tenants.utils import get_tenant_model, schema_context

from automation.selectors import webhook_deliveries_due
from automation.services import webhook_deliver


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: str) -> str:
    """One attempt; a failed one is rescheduled on its row and picked up by the sweep when due."""
    return webhook_deliver(delivery_id=delivery_id)


@shared_task
def sweep_webhook_deliveries() -> int:
    """Enqueue every company's due deliveries: retries, and any whose task was lost or whose worker died."""
    count = 0
    for schema in get_tenant_model().objects.filter(status="active").values_list("schema_name", flat=True):
        with schema_context(schema):
            for delivery_id in webhook_deliveries_due():
                deliver_webhook.delay(delivery_id)
                count += 1
    return count


@shared_task(acks_late=True)
def process_inbound(message_id: int) -> list[str]:
    """Rules, away message and AI for one stored inbound message (enqueued after its commit)."""
    from automation.rules import automation_inbound_handle

    return automation_inbound_handle(message_id=message_id)


@shared_task(acks_late=True)
def check_no_agent_reply(message_id: int, rule_id: int) -> bool:
    from automation.rules import automation_no_agent_reply_check

    return automation_no_agent_reply_check(message_id=message_id, rule_id=rule_id)
