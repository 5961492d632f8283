"""Enqueue Celery tasks after commit, in the schema that is current when the job is asked for.

`transaction.on_commit` callbacks run after the outermost transaction, possibly after a
`schema_context` has been left; the schema is captured now and travels in the task's headers
(tenant-schemas-celery switches to it in the worker).

On a Redis broker a task is pushed by `_RedisPublisher`: Celery builds the task message itself
(`app.amqp.as_task_v2`, protocol 2, the same headers and body as `apply_async`) and one LPUSH puts it
on the queue's list in the envelope kombu's Redis transport reads. `apply_async` spends about 0.5 ms of
CPU per task above that (configuration lookups through Django's settings, a copy of the queue entity
for every publish, its connection wrappers), a third of an API send. Anything the lean path does not
cover (another broker, eager mode in tests, a task routed to a non-direct exchange or with a priority,
a Redis error) goes through `apply_async`, which also retries and reconnects."""

from __future__ import annotations

import base64
import json
import uuid
from functools import lru_cache

import redis
from celery import signals
from django.db import connection, transaction

from core.redis import redis_client

REDIS_SCHEMES = ("redis://", "rediss://")


def enqueue_on_commit(task, *args) -> None:
    schema_name = connection.schema_name
    transaction.on_commit(lambda: task_publish(task, args, schema_name=schema_name))


def task_publish(task, args: tuple, *, schema_name: str) -> None:
    """Send `task(*args)` to the workers now, to run in `schema_name`."""
    headers = {"_schema_name": schema_name}
    publisher = _redis_publisher(task.app)
    if publisher is None or not publisher.publish(task, args, headers):
        task.apply_async(args=args, headers=headers)


class _RedisPublisher:
    def __init__(self, app, broker_url: str):
        self.app = app
        self.client = redis_client(broker_url)
        self._queues: dict[str, str | None] = {}

    def _queue_for(self, task) -> str | None:
        """The list a task's messages go to, when Celery would send them to a plain direct queue."""
        if task.name not in self._queues:
            options = self.app.amqp.router.route({}, task.name, (), {}, task)
            queue = options.get("queue")
            is_plain = (
                queue is not None
                and getattr(queue.exchange, "type", "direct") == "direct"
                and not options.get("priority")
                and not getattr(task, "priority", None)
                and not queue.max_priority
            )
            self._queues[task.name] = queue.name if is_plain else None
        return self._queues[task.name]

    def publish(self, task, args: tuple, extra_headers: dict) -> bool:
        """Push the task's message; False when this path does not apply (the caller uses apply_async)."""
        queue = self._queue_for(task)
        if queue is None:
            return False
        task_id = str(uuid.uuid4())
        parent = self.app.current_worker_task
        root_id = parent_id = None
        if parent is not None:  # as Celery's send_task records a task started by another task
            root_id, parent_id = parent.request.root_id or parent.request.id, parent.request.id
        headers, properties, body, _ = self.app.amqp.as_task_v2(
            task_id,
            task.name,
            args=args,
            kwargs={},
            time_limit=task.time_limit,
            soft_time_limit=task.soft_time_limit,
            root_id=root_id,
            parent_id=parent_id,
            ignore_result=task.ignore_result,
            reply_to=self.app.thread_oid,
        )
        headers.update(extra_headers)
        properties.update(
            delivery_mode=2,
            delivery_info={"exchange": "", "routing_key": queue},
            priority=0,
            body_encoding="base64",
            delivery_tag=str(uuid.uuid4()),
        )
        signals.before_task_publish.send(
            sender=task.name,
            body=body,
            exchange="",
            routing_key=queue,
            headers=headers,
            properties=properties,
            declare=[],
            retry_policy=None,
        )
        envelope = {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
        try:
            self.client.lpush(queue, json.dumps(envelope))
        except redis.RedisError:
            return False
        signals.after_task_publish.send(
            sender=task.name, body=body, exchange="", routing_key=queue, headers=headers
        )
        return True


def _redis_publisher(app) -> _RedisPublisher | None:
    # Read on every publish: tests switch eager mode on and off around a live worker.
    return None if app.conf.task_always_eager else _publisher_for(app)


@lru_cache(maxsize=2)
def _publisher_for(app) -> _RedisPublisher | None:
    conf = app.conf
    broker_url = conf.broker_url or ""
    if (
        not broker_url.startswith(REDIS_SCHEMES)
        or ";" in broker_url  # several brokers to fail over between: kombu's job
        or (conf.broker_transport_options or {}).get("global_keyprefix")
    ):
        return None
    return _RedisPublisher(app, broker_url)
