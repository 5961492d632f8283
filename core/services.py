from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_tenants.utils import get_public_schema_name

from core.fields import encrypted_fields


def _model_lives_in(model, schema_name: str) -> bool:
    app = model._meta.app_config.name
    if schema_name == get_public_schema_name():
        return app in settings.SHARED_APPS
    return app in settings.TENANT_APPS


def encrypted_values_rotate(*, models, schema_name: str) -> int:
    """Re-encrypt, in the current schema, every encrypted value with the primary key.

    Reading decrypts with whichever key of the ring made the value; writing always encrypts with
    the first key, so a read-and-write per row is the whole rotation."""
    rotated = 0
    for model in models:
        if not _model_lives_in(model, schema_name):
            continue
        for field in encrypted_fields(model):
            rows = model.objects.exclude(**{field.attname: ""}).exclude(**{f"{field.attname}__isnull": True})
            with transaction.atomic():
                for pk, plaintext in rows.values_list("pk", field.attname).iterator():
                    model.objects.filter(pk=pk).update(**{field.attname: plaintext})
                    rotated += 1
    return rotated
