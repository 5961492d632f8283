from __future__ import annotations

from celery import shared_task
from django_tenants.utils import get_tenant_model, schema_context

from campaigns.dispatch import campaign_dispatch_run
from campaigns.dispatch import campaigns_tick as tick_company


@shared_task
def campaign_dispatch(campaign_id: int) -> str:
    return campaign_dispatch_run(campaign_id=campaign_id)


@shared_task
def campaigns_tick() -> int:
    started = 0
    for schema in get_tenant_model().objects.filter(status="active").values_list("schema_name", flat=True):
        with schema_context(schema):
            counts = tick_company()
            started += counts["started"] + counts["kicked"]
    return started
