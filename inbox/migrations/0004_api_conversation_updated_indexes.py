"""Indexes behind the API's conversation list, which pages by (updated_at, id) newest first, with or
without a status filter: without them every page sorted all the company's conversations."""

from django.db import migrations

INDEXES = [
    ("conversation_updated_idx", "inbox_conversation (updated_at DESC, id DESC)"),
    ("conversation_status_updated_idx", "inbox_conversation (status, updated_at DESC, id DESC)"),
]
CREATE = [f"CREATE INDEX IF NOT EXISTS {name} ON {definition}" for name, definition in INDEXES]
DROP = [f"DROP INDEX IF EXISTS {name}" for name, _ in INDEXES]


class Migration(migrations.Migration):
    dependencies = [("inbox", "0003_issue4_inbox_indexes")]
    operations = [migrations.RunSQL(CREATE, reverse_sql=DROP)]
