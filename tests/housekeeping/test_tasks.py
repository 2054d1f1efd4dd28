"""Each housekeeping task, called as its schedule calls it, against the test database."""

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import IdempotentRequest
from billing.models import CreditAccount, EntryKind, LedgerEntry
from mfdp import housekeeping
from predictions import services
from predictions.models import JobStatus, PredictionJob
from webhooks import services as webhooks
from webhooks import tasks as webhook_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv() -> SimpleUploadedFile:
    return SimpleUploadedFile("cars.csv", b"Mileage,Make\n1000,Saab\n2000,Buick\n")


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def test_reaper_fails_and_refunds_a_running_job_whose_heartbeat_went_silent(
    settings, customer, price_version
):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 300
    silent = services.submit_single(
        user=customer, version=price_version, record={"Mileage": 1000, "Make": "Saab"}
    )
    beating = services.submit_single(
        user=customer, version=price_version, record={"Mileage": 2000, "Make": "Saab"}
    )
    now = timezone.now()
    PredictionJob.objects.filter(pk=silent.pk).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now - timedelta(seconds=301)
    )
    PredictionJob.objects.filter(pk=beating.pk).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now - timedelta(seconds=30)
    )
    assert _balance(customer) == 96

    assert (
        housekeeping.reap_silent_jobs() == "1 silent job(s) and 0 training(s) failed and refunded"
    )
    assert (
        housekeeping.reap_silent_jobs() == "0 silent job(s) and 0 training(s) failed and refunded"
    )

    silent.refresh_from_db()
    assert silent.status == JobStatus.FAILED
    assert silent.error_code == "worker_lost"
    assert silent.credits_refunded == 2
    refund = LedgerEntry.objects.get(kind=EntryKind.REFUND)
    assert refund.amount == 2
    assert refund.reference == f"job:{silent.pk}:refund"
    assert _balance(customer) == 98
    beating.refresh_from_db()
    assert beating.status == JobStatus.RUNNING


def test_retention_purge_removes_old_files_and_marks_the_job(settings, customer, price_version):
    settings.JOB_FILES_RETENTION_DAYS = 30
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(), filename="cars.csv"
    )
    job = services.run_job(job_id=job.pk)
    files = [job.upload.name, job.result.name]
    assert all(default_storage.exists(name) for name in files)
    PredictionJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=31))

    assert (
        housekeeping.purge_job_files() == "files of 1 job(s) and 0 deleted model version(s) removed"
    )

    job.refresh_from_db()
    assert job.data_purged_at is not None
    assert job.status == JobStatus.SUCCEEDED, "the job row stays"
    assert not job.upload
    assert not job.result
    assert not any(default_storage.exists(name) for name in files)
    assert (
        housekeeping.purge_job_files() == "files of 0 job(s) and 0 deleted model version(s) removed"
    )


def test_quote_sweep_removes_an_expired_unconfirmed_upload_only(customer):
    expired = services.quote_upload_hold(user=customer, upload=_csv())
    fresh = services.quote_upload_hold(user=customer, upload=_csv())
    an_hour_and_more_ago = (timezone.now() - services.QUOTE_HOLD - timedelta(minutes=1)).timestamp()
    os.utime(default_storage.path(expired), (an_hour_and_more_ago, an_hour_and_more_ago))

    assert housekeeping.sweep_quote_uploads() == "1 unconfirmed upload(s) removed"

    assert not default_storage.exists(expired)
    assert default_storage.exists(fresh)


def test_idempotency_records_past_their_hours_are_forgotten(settings, customer):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    old = IdempotentRequest.objects.create(user=customer, key="old", fingerprint="a" * 64)
    IdempotentRequest.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    recent = IdempotentRequest.objects.create(user=customer, key="recent", fingerprint="b" * 64)

    assert housekeeping.forget_idempotency_keys() == "1 expired key(s) forgotten"

    assert list(IdempotentRequest.objects.all()) == [recent]


def test_a_webhook_event_that_lost_its_task_is_enqueued_again_and_sent_once(
    make_job, receiver, allow_private
):
    event = webhooks.job_finished(make_job(webhook_url=receiver.url))
    OrmQ.objects.all().delete()  # the task is lost: its row vanished
    overdue = timezone.now() - webhooks.REDELIVERY_MARGIN - timedelta(minutes=1)
    type(event).objects.filter(pk=event.pk).update(next_attempt_at=overdue)

    summary = housekeeping.redeliver_webhooks()

    assert summary.startswith("1 event(s) enqueued again")
    tasks = [row.task for row in OrmQ.objects.all()]
    assert [(task["func"], tuple(task["args"])) for task in tasks] == [
        (webhooks.DELIVER_TASK, (str(event.pk),))
    ]
    for task in tasks + tasks:  # the enqueued delivery, and a duplicate of it
        webhook_tasks.deliver(*task["args"])
    assert len(receiver.requests) == 1
    event.refresh_from_db()
    assert event.delivered_at is not None
