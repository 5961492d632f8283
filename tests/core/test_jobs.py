"""Tasks pushed by core.jobs' Redis publisher are the messages Celery's own apply_async sends (the e2e tests
run them on a real worker), and anything the lean path does not cover still goes through Celery."""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from config.celery import app
from core import jobs
from core.redis import redis_client
from inbox.tasks import deliver_message

QUEUE = "jobs-test"
# Fresh per message: task and delivery ids; the rest must be identical.
PER_MESSAGE = {("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id")}


@pytest.fixture
def broker():
    client = redis_client(settings.CELERY_BROKER_URL)
    client.delete(QUEUE)
    app.conf.task_always_eager = False
    yield client
    app.conf.task_always_eager = True
    client.delete(QUEUE)


def _popped(client) -> dict:
    raw = client.rpop(QUEUE)
    assert raw is not None, "nothing was published"
    envelope = json.loads(raw)
    envelope["body"] = json.loads(base64.b64decode(envelope["body"]))
    envelope["properties"].pop("delivery_tag")
    for section, name in PER_MESSAGE:
        envelope[section].pop(name)
    return envelope


def test_the_lean_message_is_the_one_celery_sends(broker):
    deliver_message.apply_async(args=(42,), headers={"_schema_name": "alpha"}, queue=QUEUE)
    from_celery = _popped(broker)

    publisher = jobs._RedisPublisher(app, settings.CELERY_BROKER_URL)
    publisher._queues[deliver_message.name] = QUEUE
    assert publisher.publish(deliver_message, (42,), {"_schema_name": "alpha"})
    ours = _popped(broker)

    assert ours == from_celery
    assert ours["headers"]["task"] == "inbox.tasks.deliver_message"
    assert ours["headers"]["_schema_name"] == "alpha" and ours["body"][0] == [42]
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": QUEUE}


def test_enqueue_on_commit_publishes_once_after_commit_with_the_schema(
    broker, alpha, django_capture_on_commit_callbacks
):
    publisher = jobs._redis_publisher(app)
    assert publisher is not None
    publisher._queues[deliver_message.name] = QUEUE
    try:
        with schema_context("alpha"), django_capture_on_commit_callbacks(execute=False) as callbacks:
            jobs.enqueue_on_commit(deliver_message, 7)
        assert broker.llen(QUEUE) == 0  # nothing before the commit
        for callback in callbacks:
            callback()
        message = _popped(broker)
        assert message["headers"]["_schema_name"] == "alpha"
        assert message["body"][0] == [7] and broker.llen(QUEUE) == 0
    finally:
        publisher._queues.pop(deliver_message.name)


def test_eager_mode_and_other_brokers_go_through_celery(broker):
    assert jobs._redis_publisher(app) is not None
    app.conf.task_always_eager = True
    assert jobs._redis_publisher(app) is None
    app.conf.task_always_eager = False
    broker_url = app.conf.broker_url
    try:
        app.conf.broker_url = "amqp://guest:guest@127.0.0.1:5672//"
        assert jobs._publisher_for.__wrapped__(app) is None
    finally:
        app.conf.broker_url = broker_url


def test_a_redis_error_falls_back_to_celery(broker, monkeypatch):
    """A publish the lean path could not make is not lost: apply_async (which retries) sends it."""
    publisher = jobs._RedisPublisher(app, "redis://127.0.0.1:1/0")  # nothing listens there
    publisher._queues[deliver_message.name] = QUEUE
    monkeypatch.setattr(jobs, "_redis_publisher", lambda _app: publisher)
    sent = []
    monkeypatch.setattr(deliver_message, "apply_async", lambda **kwargs: sent.append(kwargs))
    jobs.task_publish(deliver_message, (9,), schema_name="alpha")
    assert sent == [{"args": (9,), "headers": {"_schema_name": "alpha"}}]
