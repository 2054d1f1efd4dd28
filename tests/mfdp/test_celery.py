"""Celery on a real worker: a separate process, the configured broker, the test database.

The worker imports this module (conftest.WORKER_INCLUDE), so the task below exists there
under the same explicit name as here.
"""

import os
import uuid

import pytest
from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from mfdp.celery import app as celery_app
from mfdp.celery import ping

RESULT_TIMEOUT = 30  # seconds; a bound for the wait, not an expectation


@shared_task(name="tests.worker_view")
def worker_view(login: str) -> dict:
    """What the worker sees: its process, its database, and whether a user exists there."""
    from django.db import connection as worker_connection

    user_model = get_user_model()
    return {
        "pid": os.getpid(),
        "database": str(worker_connection.settings_dict["NAME"]),
        "user_exists": user_model.objects.filter(**{user_model.USERNAME_FIELD: login}).exists(),
    }


def test_ping_round_trip_on_the_real_worker(celery_worker):
    result = ping.delay()

    assert result.get(timeout=RESULT_TIMEOUT) == "pong"
    assert result.successful()


@pytest.mark.django_db(transaction=True)
def test_worker_is_a_separate_process_on_the_test_database(celery_worker, django_user_model):
    # Committed (transaction=True), so another connection can see it.
    login = f"seen-by-worker-{uuid.uuid4().hex[:8]}@example.com"
    django_user_model.objects.create_user(login, "irrelevant-here")

    seen = worker_view.delay(login).get(timeout=RESULT_TIMEOUT)
    unseen = worker_view.delay(f"nobody-{uuid.uuid4().hex[:8]}@example.com").get(
        timeout=RESULT_TIMEOUT
    )

    assert seen["pid"] == celery_worker.pid
    assert seen["pid"] != os.getpid()
    assert seen["database"] == str(connection.settings_dict["NAME"]) == celery_worker.database
    assert seen["user_exists"] is True
    assert unseen["user_exists"] is False


@pytest.mark.redis
def test_tasks_travel_through_redis(celery_worker):
    import redis

    result = ping.delay()
    assert result.get(timeout=RESULT_TIMEOUT) == "pong"

    with celery_app.connection_for_write() as conn:
        assert conn.transport.driver_type == "redis"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        # kombu keeps the routing of the test queue in Redis when a task is sent through it.
        bindings = broker.smembers(f"_kombu.binding.{celery_worker.queue}")
    finally:
        broker.close()
    assert any(celery_worker.queue.encode() in member for member in bindings)
    if str(settings.CELERY_RESULT_BACKEND).startswith(("redis://", "rediss://")):
        backend = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND)
        try:
            assert backend.exists(f"celery-task-meta-{result.id}")
        finally:
            backend.close()
