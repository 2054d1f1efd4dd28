"""The admin's Workers page: the Celery workers that answer, the job queue's depth and the
housekeeping cluster's state, read from the real broker and database."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.models import Task

from accounts.models import User
from mfdp.celery import app as celery_app
from mfdp.celery import ping
from tests.conftest import TEST_QUEUE
from tests.factories import UserFactory

WORKERS = reverse("admin:worker_status")


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x" * 12))
    return client


@pytest.fixture
def idle_queue(monkeypatch, celery_broker):
    """A job queue of its own that no worker consumes, removed after the test."""
    name = f"mfdp-depth-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", name)
    yield name
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


def test_the_page_lists_the_running_worker_with_its_queue(staff_client, celery_worker):
    page = staff_client.get(WORKERS)

    assert page.status_code == 200
    workers = page.context["status"].workers
    ours = [worker for worker in workers if worker.name.startswith(f"{TEST_QUEUE}@")]
    assert len(ours) == 1
    assert ours[0].concurrency == 2
    assert ours[0].queues == [TEST_QUEUE]
    assert ours[0].tasks_done >= 1  # the fixture's readiness ping
    assert ours[0].name in page.content.decode()


def test_the_page_counts_messages_waiting_in_the_job_queue(staff_client, idle_queue):
    for _ in range(3):
        ping.apply_async(queue=idle_queue)

    page = staff_client.get(WORKERS)

    assert page.context["status"].job_queue.name == idle_queue
    assert page.context["status"].job_queue.waiting == 3
    assert '<td id="queue-depth">3</td>' in page.content.decode()


@pytest.fixture
def broker_down(monkeypatch):
    """The app's broker is an address where nothing listens (a fresh connection pool)."""
    nowhere = "redis://127.0.0.1:9/0"
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere)  # Celery reads it before its conf
    monkeypatch.setitem(celery_app.conf, "broker_url", nowhere)
    monkeypatch.setitem(celery_app.conf, "broker_read_url", None)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", None)
    monkeypatch.setattr(celery_app, "_pool", None)


def test_when_the_broker_is_down_the_page_says_so(staff_client, broker_down):
    page = staff_client.get(WORKERS)

    assert page.status_code == 200
    assert page.context["status"].workers is None
    assert page.context["status"].job_queue.waiting is None
    assert "The broker did not answer" in page.content.decode()


def test_housekeeping_failures_and_last_task_are_shown(staff_client):
    now = timezone.now()
    # Rows as the cluster records its tasks: a success an hour ago, a failure two days ago
    # (outside the 24 hours) and one ten minutes ago.
    _finished_task(now - timedelta(hours=1), success=True)
    _finished_task(now - timedelta(days=2), success=False)
    last = _finished_task(now - timedelta(minutes=10), success=False)

    page = staff_client.get(WORKERS)

    status = page.context["status"]
    assert status.housekeeping_failures_24h == 1
    assert status.last_housekeeping_task_at == last.stopped
    assert status.housekeeping_waiting == 0
    assert '<a id="housekeeping-failures"' in page.content.decode()


def _finished_task(stopped, *, success: bool) -> Task:
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"task-{uuid.uuid4().hex[:8]}",
        func="mfdp.housekeeping.reap_silent_jobs",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=success,
    )


def test_the_index_links_to_the_page(staff_client):
    assert WORKERS in staff_client.get(reverse("admin:index")).content.decode()


def test_staff_who_cannot_see_jobs_are_refused(client, db):
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client.force_login(clerk)
    assert client.get(WORKERS).status_code == 403


def test_customers_are_sent_to_the_admin_login(client, db):
    client.force_login(UserFactory())
    response = client.get(WORKERS)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
