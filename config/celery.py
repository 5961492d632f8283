import os
import sys

from celery.signals import worker_init, worker_process_init
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = TenantAwareCeleryApp("omnidesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _switch_threads_often(**_kwargs) -> None:
    """Worker threads share one interpreter lock; a campaign dispatcher whose send slot has come waits for
    it up to the switch interval (5 ms by default) each time another thread holds it, and a send that
    leaves late can land in the same second as the next ones. 1 ms keeps sends on their slots."""
    sys.setswitchinterval(0.001)
