"""webhooks.services.redeliver_overdue_events: what the webhook housekeeping schedule does."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from predictions.models import JobStatus
from tests.factories import UserFactory
from webhooks import services
from webhooks.models import EventType, WebhookEvent

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/mfdp"


def _delivery_tasks() -> list[tuple]:
    return [tuple(row.task["args"]) for row in OrmQ.objects.all()]


def _lost(event: WebhookEvent, *, due_ago: timedelta, created_ago: timedelta | None = None):
    """The event's task is gone, and its attempt was due `due_ago` ago."""
    OrmQ.objects.all().delete()
    now = timezone.now()
    fields = {"next_attempt_at": now - due_ago}
    if created_ago is not None:
        fields["created_at"] = now - created_ago
    WebhookEvent.objects.filter(pk=event.pk).update(**fields)


def test_an_event_due_within_the_margin_is_left_to_its_own_task(make_job):
    event = services.job_finished(make_job(webhook_url=URL))
    _lost(event, due_ago=services.REDELIVERY_MARGIN - timedelta(minutes=1))

    assert services.redeliver_overdue_events() == {"enqueued": 0, "given_up": 0, "created": 0}
    assert _delivery_tasks() == []


def test_an_overdue_event_past_its_retry_window_is_given_up(make_job):
    event = services.job_finished(make_job(webhook_url=URL))
    _lost(event, due_ago=timedelta(hours=2), created_ago=services.RETRY_WINDOW + timedelta(hours=1))

    assert services.redeliver_overdue_events()["given_up"] == 1

    event.refresh_from_db()
    assert event.given_up_at is not None
    assert event.next_attempt_at is None
    assert _delivery_tasks() == []


def test_an_overdue_test_event_is_given_up_not_sent_again():
    event = services._create_event(
        owner=UserFactory(), event_type=EventType.TEST, url=URL, data={"message": "test"}
    )
    _lost(event, due_ago=timedelta(hours=1))

    assert services.redeliver_overdue_events()["given_up"] == 1
    assert _delivery_tasks() == []


def test_delivered_and_given_up_events_are_left_alone(make_job):
    for field in ("delivered_at", "given_up_at"):
        event = services.job_finished(make_job(webhook_url=URL))
        _lost(event, due_ago=timedelta(hours=1))
        WebhookEvent.objects.filter(pk=event.pk).update(**{field: timezone.now()})

    assert services.redeliver_overdue_events() == {"enqueued": 0, "given_up": 0, "created": 0}


def test_a_finished_job_whose_event_was_never_created_gets_it(make_job):
    finished = timezone.now() - services.REDELIVERY_MARGIN - timedelta(minutes=1)
    job = make_job(webhook_url=URL, status=JobStatus.FAILED, finished_at=finished)
    make_job(webhook_url="", finished_at=finished)  # no URL: no event
    just_finished = make_job(webhook_url=URL)  # its on_commit may still be on the way

    assert services.redeliver_overdue_events()["created"] == 1
    assert services.redeliver_overdue_events()["created"] == 0

    event = WebhookEvent.objects.get(job=job)
    assert event.type == EventType.JOB_FAILED
    assert _delivery_tasks() == [(str(event.pk),)]
    assert not WebhookEvent.objects.filter(job=just_finished).exists()
