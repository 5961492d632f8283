"""Enqueue Celery tasks after commit, in the schema that is current when the job is asked for.

`transaction.on_commit` callbacks run after the outermost transaction, possibly after a
`schema_context` has been left; the schema is captured now and travels in the task's headers
(tenant-schemas-celery switches to it in the worker)."""

from __future__ import annotations

from django.db import connection, transaction


def enqueue_on_commit(task, *args) -> None:
    schema_name = connection.schema_name
    transaction.on_commit(lambda: task.apply_async(args=args, headers={"_schema_name": schema_name}))
