"""Indexes behind the dashboard's inbox (issue 4): keyset pages of the conversation list per view and
filter, and trigram indexes for searching contact names, phones and message text with ILIKE."""

from django.db import migrations

INDEXES = [
    ("conversation_recent_idx", "inbox_conversation (last_message_at DESC, id DESC)"),
    ("conversation_status_recent_idx", "inbox_conversation (status, last_message_at DESC, id DESC)"),
    ("conversation_assignee_idx", "inbox_conversation (assignee_id, status, last_message_at DESC, id DESC)"),
    (
        "conversation_department_idx",
        "inbox_conversation (department_id, status, last_message_at DESC, id DESC)",
    ),
    ("conversation_channel_idx", "inbox_conversation (channel_id, status, last_message_at DESC, id DESC)"),
    (
        "conversation_unassigned_idx",
        "inbox_conversation (status, last_message_at DESC, id DESC) WHERE assignee_id IS NULL",
    ),
    # The sidebar counts read only this index (an index-only scan of the open conversations).
    (
        "conversation_counts_idx",
        "inbox_conversation (status, assignee_id, department_id, unread_count) INCLUDE (id)",
    ),
    ("message_body_trgm_idx", "inbox_message USING gin (UPPER(body) gin_trgm_ops)"),
    ("contact_name_trgm_idx", "inbox_contact USING gin (UPPER(name) gin_trgm_ops)"),
    ("contact_profile_name_trgm_idx", "inbox_contact USING gin (UPPER(profile_name) gin_trgm_ops)"),
    ("contact_phone_trgm_idx", "inbox_contact USING gin (phone gin_trgm_ops)"),
]

# pg_trgm lives in public (like pgvector) so every company schema shares it.
CREATE = ["CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"] + [
    f"CREATE INDEX IF NOT EXISTS {name} ON {definition}" for name, definition in INDEXES
]
DROP = [f"DROP INDEX IF EXISTS {name}" for name, _ in INDEXES]


class Migration(migrations.Migration):
    dependencies = [("inbox", "0002_issue8_contact_identities")]
    operations = [migrations.RunSQL(CREATE, reverse_sql=DROP)]
