from django.db import migrations

CREATE_VECTOR = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
  ELSE
    RAISE WARNING 'pgvector is not available on this server: AI knowledge bases need it';
  END IF;
END $$;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunSQL(CREATE_VECTOR, reverse_sql=migrations.RunSQL.noop)]
