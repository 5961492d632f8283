from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import schema_context

from api.services import USAGE_SCHEMAS, api_key_usage_flush
from core.redis import get_redis

logger = logging.getLogger(__name__)


@shared_task
def flush_api_key_usage() -> int:
    """Add every company's counted API key uses to the key rows (last used time, usage count)."""
    changed = 0
    for raw in get_redis().smembers(USAGE_SCHEMAS):
        schema = raw.decode()
        try:
            with schema_context(schema):
                changed += api_key_usage_flush(schema=schema)
        except Exception:
            logger.exception("could not flush API key usage of schema %s", schema)
    return changed
