"""Events of finished jobs, signed and delivered to a real local HTTP server, with retries."""

import ast
import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from rest_framework.test import APIClient

from predictions.models import JobStatus
from predictions.services import jobs
from tests.factories import issue_token
from webhooks import sending, services, tasks
from webhooks.models import EventType, WebhookAttempt, WebhookEvent
from webhooks.sending import TIMEOUT_SECONDS

from .conftest import Answer

pytestmark = pytest.mark.django_db


def _queued_deliveries() -> list[tuple]:
    """The django-q2 tasks waiting in the ORM broker, as (func, args)."""
    return [(row.task["func"], tuple(row.task["args"])) for row in OrmQ.objects.all()]


def _schedules() -> list[Schedule]:
    return list(Schedule.objects.filter(func=services.DELIVER_TASK).order_by("next_run"))


def _make_due(event: WebhookEvent) -> None:
    """Time passes until the next attempt (the scheduler would start the task then)."""
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())


def test_settling_a_job_with_a_url_creates_its_event_and_enqueues_the_delivery(
    make_job, receiver, django_capture_on_commit_callbacks
):
    job = make_job(webhook_url=receiver.url, status=JobStatus.RUNNING, finished_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        jobs.settle(job=job, status=JobStatus.SUCCEEDED, rows_done=1, output={"prediction": 3.5})

    event = WebhookEvent.objects.get()
    assert (event.job, event.owner, event.type, event.url) == (
        job,
        job.owner,
        EventType.JOB_SUCCEEDED,
        receiver.url,
    )
    assert event.payload["data"]["job"]["output"] == {"prediction": 3.5}
    assert _queued_deliveries() == [("webhooks.tasks.deliver", (str(event.pk),))]
    assert receiver.requests == [], "nothing is sent from the web or Celery process"


def test_settling_a_job_without_a_url_creates_no_event(
    make_job, django_capture_on_commit_callbacks
):
    job = make_job(status=JobStatus.RUNNING, finished_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.settle(job=job, status=JobStatus.SUCCEEDED, rows_done=1)
    assert not WebhookEvent.objects.exists()
    assert not OrmQ.objects.exists()


def test_a_job_has_one_event_however_often_it_is_reported(make_job, receiver):
    job = make_job(webhook_url=receiver.url, status=JobStatus.FAILED, error_code="worker_lost")
    first = services.job_finished(job)
    second = services.job_finished(job)
    assert first.pk == second.pk
    assert first.type == EventType.JOB_FAILED
    assert WebhookEvent.objects.count() == 1
    assert len(_queued_deliveries()) == 1


def test_an_unfinished_job_has_no_event(make_job, receiver):
    job = make_job(webhook_url=receiver.url, status=JobStatus.RUNNING)
    assert services.job_finished(job) is None
    assert not WebhookEvent.objects.exists()


def test_the_event_is_received_with_its_headers_and_a_valid_signature(
    make_job, receiver, allow_private, verify
):
    job = make_job(webhook_url=receiver.url)
    event = services.job_finished(job)

    status = tasks.deliver(str(event.pk))

    assert status == 200
    (received,) = receiver.requests
    assert received.path == "/hooks/mfdp"
    headers = received.headers
    assert headers["MFDP-Event-Id"] == str(event.pk)
    assert abs(int(headers["MFDP-Timestamp"]) - time.time()) < 60
    assert headers["MFDP-Signature"].startswith("v1=")
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "MFDP-Webhooks/1"
    assert verify(job.owner.webhook_secret, headers, received.body)
    assert not verify("whsec_another-secret", headers, received.body)
    assert not verify(job.owner.webhook_secret, headers, received.body + b" ")

    body = json.loads(received.body)
    assert list(body) == ["id", "type", "created_at", "data"]
    assert body["id"] == str(event.pk)
    assert body["type"] == "job.succeeded"
    assert body["created_at"].endswith("Z")
    # The job exactly as the API answers it.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(job.owner)}")
    shown = api.get(f"/api/v1/predictions/{job.pk}/").json()
    assert body["data"]["job"] == shown
    assert body["data"]["job"]["output"] == {"prediction": 27600.5}
    assert (body["data"]["job"]["status"], body["data"]["job"]["cost"]) == ("succeeded", 2)

    event.refresh_from_db()
    assert event.delivered_at is not None
    assert event.next_attempt_at is None
    assert event.attempts == 1
    attempt = event.attempt_log.get()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert attempt.response_excerpt == "thanks"
    assert attempt.duration_ms is not None


def test_the_verification_refuses_an_old_timestamp(make_job, receiver, allow_private, verify):
    event = services.job_finished(make_job(webhook_url=receiver.url))
    tasks.deliver(str(event.pk))
    (received,) = receiver.requests
    headers = dict(received.headers)
    secret = event.owner.webhook_secret
    assert verify(secret, headers, received.body)
    old = int(headers["MFDP-Timestamp"]) - 600
    headers["MFDP-Timestamp"] = str(old)
    headers["MFDP-Signature"] = sending.signature(secret=secret, timestamp=old, body=received.body)
    assert not verify(secret, headers, received.body), "a replay ten minutes later is refused"


def test_an_answer_of_500_is_retried_with_backoff_and_then_delivered(
    make_job, receiver, allow_private, verify
):
    receiver.answer_with(Answer(status=500, body=b"database down"))
    event = services.job_finished(make_job(webhook_url=receiver.url))
    before = timezone.now()

    assert tasks.deliver(str(event.pk)) == 500

    event.refresh_from_db()
    assert event.is_pending
    assert event.attempts == 1
    first = event.attempt_log.get()
    assert (first.status_code, first.response_excerpt) == (500, "database down")
    # The next attempt is 30 s later, as a one-off django-q2 schedule of the same task.
    assert before + timedelta(seconds=30) <= event.next_attempt_at
    assert event.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    (schedule,) = _schedules()
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.next_run == event.next_attempt_at
    assert ast.literal_eval(schedule.args) == (str(event.pk),)

    # A second run of the task before that time (a duplicate message) sends nothing.
    assert tasks.deliver(str(event.pk)) is None
    assert len(receiver.requests) == 1

    _make_due(event)
    assert tasks.deliver(*ast.literal_eval(schedule.args)) == 200

    event.refresh_from_db()
    assert event.delivered_at is not None
    assert event.attempts == 2
    assert [(a.number, a.status_code) for a in event.attempt_log.all()] == [(1, 500), (2, 200)]
    assert len(receiver.requests) == 2
    assert {r.headers["MFDP-Event-Id"] for r in receiver.requests} == {str(event.pk)}
    assert all(verify(event.owner.webhook_secret, r.headers, r.body) for r in receiver.requests)
    assert len(_schedules()) == 1, "no schedule after the success"

    # Delivered: running the task again (a late duplicate) never sends it again.
    _make_due(event)
    assert tasks.deliver(str(event.pk)) is None
    assert len(receiver.requests) == 2


def test_backoff_doubles_from_30_seconds_up_to_an_hour():
    delays = [services.retry_delay(n).total_seconds() for n in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert services.retry_delay(500) == timedelta(hours=1)


def test_each_failure_schedules_the_next_attempt_further_away(make_job, receiver, allow_private):
    receiver.answer_with(500, 502, 503)
    event = services.job_finished(make_job(webhook_url=receiver.url))
    gaps = []
    for _ in range(3):
        _make_due(event)
        tasks.deliver(str(event.pk))
        event.refresh_from_db()
        attempt = event.attempt_log.last()
        gaps.append(round((event.next_attempt_at - attempt.started_at).total_seconds()))
    assert gaps == [30, 60, 120]
    assert [s.next_run for s in _schedules()][-1] == event.next_attempt_at


def test_delivery_gives_up_24_hours_after_the_event(make_job, receiver, allow_private):
    receiver.answer_with(500)
    event = services.job_finished(make_job(webhook_url=receiver.url))
    # Created almost a day ago: the next attempt (an hour after a 10th failure) falls past it.
    WebhookEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(hours=23, minutes=59), attempts=9
    )

    tasks.deliver(str(event.pk))

    event.refresh_from_db()
    assert event.given_up_at is not None
    assert event.delivered_at is None
    assert event.next_attempt_at is None
    assert event.attempt_log.get().number == 10
    assert _schedules() == []
    _make_due(event)
    assert tasks.deliver(str(event.pk)) is None
    assert len(receiver.requests) == 1


def test_a_refused_connection_is_a_recorded_failure(make_job, allow_private, closed_port):
    event = services.job_finished(make_job(webhook_url=f"http://127.0.0.1:{closed_port}/hook"))

    assert tasks.deliver(str(event.pk)) is None

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "ConnectionRefusedError" in attempt.error
    event.refresh_from_db()
    assert event.is_pending
    assert len(_schedules()) == 1


def test_a_receiver_slower_than_the_timeout_is_a_failure(
    make_job, receiver, allow_private, monkeypatch
):
    monkeypatch.setattr("webhooks.sending.TIMEOUT_SECONDS", 0.3)
    receiver.answer_with(Answer(delay=1.0))
    event = services.job_finished(make_job(webhook_url=receiver.url))

    tasks.deliver(str(event.pk))

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert attempt.error == "no answer within 0.3 s"
    assert TIMEOUT_SECONDS == 10


def test_redirects_are_not_followed(make_job, receiver, allow_private):
    receiver.answer_with(Answer(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"}))
    event = services.job_finished(make_job(webhook_url=receiver.url))

    assert tasks.deliver(str(event.pk)) == 302

    assert len(receiver.requests) == 1
    attempt = WebhookAttempt.objects.get()
    assert "redirect" in attempt.error
    event.refresh_from_db()
    assert event.delivered_at is None
    assert event.is_pending


def test_a_host_that_turns_private_after_it_was_accepted_is_not_called(
    make_job, receiver, fake_dns, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    fake_dns({"hooks.example.com": ["93.184.216.34"]})
    url = services.clean_webhook_url("https://hooks.example.com/hook")
    event = services.job_finished(make_job(webhook_url=url))
    # DNS rebinding: the same name now answers with the loopback address.
    fake_dns({"hooks.example.com": ["127.0.0.1"]})

    tasks.deliver(str(event.pk))

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("refused: ")
    assert "non-public" in attempt.error
    assert receiver.requests == []
    event.refresh_from_db()
    assert event.is_pending


def test_plain_http_is_not_called_outside_debug(make_job, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    event = services.job_finished(make_job(webhook_url=receiver.url))

    tasks.deliver(str(event.pk))

    assert WebhookAttempt.objects.get().error == "only https URLs are called"
    assert receiver.requests == []


def test_the_signature_uses_the_secret_in_force_at_the_attempt(
    make_job, receiver, allow_private, verify
):
    from accounts.services import webhook_secret_rotate

    event = services.job_finished(make_job(webhook_url=receiver.url))
    new_secret = webhook_secret_rotate(user=event.owner)

    tasks.deliver(str(event.pk))

    (received,) = receiver.requests
    assert verify(new_secret, received.headers, received.body)


def test_a_test_event_is_tried_once_and_not_retried(receiver, allow_private, make_job):
    receiver.answer_with(500)
    user = make_job().owner

    event = services.send_test_event(user=user, url=receiver.url)

    assert event.type == EventType.TEST
    assert event.job is None
    assert event.given_up_at is not None
    assert event.attempts == 1
    assert _schedules() == []
    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "test"
    assert body["id"] == str(event.pk)
    assert "test event" in body["data"]["message"]


def test_resend_delivers_an_event_again(make_job, receiver, allow_private):
    event = services.job_finished(make_job(webhook_url=receiver.url))
    tasks.deliver(str(event.pk))
    OrmQ.objects.all().delete()  # the cluster took the first task

    services.resend(event=event)

    assert _queued_deliveries() == [("webhooks.tasks.deliver", (str(event.pk),))]
    assert tasks.deliver(str(event.pk)) == 200
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.delivered_at is not None
    assert len(receiver.requests) == 2


def test_an_unknown_event_id_does_nothing(db):
    assert tasks.deliver("3f1c7a2e-0000-4000-8000-000000000000") is None


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_task_at_once_send_it_once(make_job, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver.answer_with(Answer(delay=0.5))
    event = services.job_finished(make_job(webhook_url=receiver.url))
    results = []

    def worker():
        try:
            results.append(tasks.deliver(str(event.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results, key=str) == [200, None]
    assert len(receiver.requests) == 1
    event.refresh_from_db()
    assert event.attempts == 1
    assert event.delivered_at is not None
