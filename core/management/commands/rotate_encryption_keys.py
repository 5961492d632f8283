"""Re-encrypt every encrypted field, in the public schema and every company's, with the first key of
OMNIDESK_ENCRYPTION_KEYS. Run it after putting a new key first; then the old key can be dropped."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from core.services import encrypted_values_rotate


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields with the current primary key."

    def handle(self, *args, **opts):
        schemas = [get_public_schema_name()] + list(
            get_tenant_model()
            .objects.exclude(schema_name=get_public_schema_name())
            .values_list("schema_name", flat=True)
        )
        total = 0
        for schema in schemas:
            with schema_context(schema):
                count = encrypted_values_rotate(models=apps.get_models(), schema_name=connection.schema_name)
            total += count
            if count:
                self.stdout.write(f"{schema}: re-encrypted {count} value(s)")
        self.stdout.write(f"Done: {total} value(s) re-encrypted.")
