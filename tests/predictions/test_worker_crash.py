"""A Celery worker killed with SIGKILL in the middle of a job: the job ends once, delivered or
failed and refunded, and is never charged twice.

With late acks and reject-on-worker-lost the broker would hand the message to another worker,
but only later (Redis: after the visibility timeout, an hour; the filesystem broker: never),
so the test asserts the product's own guarantee instead: the reaper (fail_silent_jobs) fails
and refunds a job whose worker went silent, and a message delivered afterwards runs nothing.

Each test starts its own worker (solo pool, one process, its own queue) because it kills it;
the session's `celery_worker` is not used and cannot take these jobs.
"""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.core.files.uploadedfile import SimpleUploadedFile

from billing import services as billing
from billing.models import CreditAccount, EntryKind, LedgerEntry
from mfdp.celery import ping
from predictions import services
from predictions.models import JobStatus, ModelVersion, PredictionJob
from predictions.tasks import run_prediction_job
from tests.conftest import (
    TEST_QUEUE,
    WORKER_INCLUDE,
    WORKER_START_TIMEOUT,
    _stop_worker,
    service_env,
    start_service,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 60  # a bound for the worker, not an expectation
SLOW_ROWS = 4_000  # with one row per chunk: thousands of progress updates, seconds of work
PRICE = 2  # tiny-price's credits per row (tests/predictions/conftest.py)


@pytest.fixture
def price_version(tiny_models):
    services.register_manifest(folder=tiny_models)
    return ModelVersion.objects.get(model__slug="tiny-price")


@pytest.fixture
def crash_queue(monkeypatch) -> str:
    """A queue of this test's own: jobs submitted here go to it (not to TEST_QUEUE, where the
    session's worker may be listening), so the worker this test kills is the one running them."""
    queue = f"{TEST_QUEUE}-crash-{uuid.uuid4().hex[:6]}"

    def delay(*args, **kwargs):
        # The product ignores the task's result (the job row is the result); these tests
        # wait on it to know when a redelivered message has been handled.
        return run_prediction_job.apply_async(args, kwargs, queue=queue, ignore_result=False)

    monkeypatch.setattr(run_prediction_job, "delay", delay)
    return queue


@pytest.fixture
def start_worker(django_db_setup, crash_queue, tmp_path):
    """Start a real Celery worker (solo pool: the job runs in the worker's own process) on the
    test database, consuming `crash_queue`, with one row per predicted chunk; returns its
    Popen once it has answered mfdp.ping. Every worker started is stopped after the test."""

    started: list[subprocess.Popen] = []
    env = service_env(CELERY_QUEUE=crash_queue, PREDICT_CHUNK_ROWS="1")

    def start() -> subprocess.Popen:
        log = tmp_path / f"worker-{len(started)}.log"
        args = [
            "-A",
            "mfdp",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--queues",
            crash_queue,
            "--hostname",
            f"{crash_queue}-{len(started)}@%h",
            "--include",
            ",".join(WORKER_INCLUDE),
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        proc = start_service(["-m", "celery", *args], env=env, log=log)
        started.append(proc)
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        answer = ping.apply_async(queue=crash_queue)
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the worker exited ({proc.returncode}):\n{log.read_text()[-5000:]}")
            try:
                if answer.get(timeout=1, interval=0.1) == "pong":
                    return proc
            except CeleryTimeoutError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the worker did not answer mfdp.ping:\n{log.read_text()[-5000:]}")

    try:
        yield start
    finally:
        for proc in started:
            _stop_worker(proc)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and everything in its process group; no chance to clean up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_SECONDS)
    assert proc.returncode == -signal.SIGKILL


def _csv(rows: int) -> SimpleUploadedFile:
    body = "Mileage,Make\n" + "".join(f"{1_000 + i},Saab\n" for i in range(rows))
    return SimpleUploadedFile("cars.csv", body.encode())


def _customer(credits: int):
    user = UserFactory()
    billing.grant(user=user, amount=credits, memo="test credits", actor=None)
    return user


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _ledger(job: PredictionJob) -> list[tuple[str, int, str]]:
    """The job's charge and refund entries: (kind, amount, reference), oldest first."""
    return list(
        LedgerEntry.objects.filter(reference__startswith=f"job:{job.pk}:")
        .order_by("id")
        .values_list("kind", "amount", "reference")
    )


def _wait_for(job: PredictionJob, condition, what: str) -> PredictionJob:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if condition(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job.pk} never {what}: {job.status}, {job.rows_done} rows done")


def _reap() -> int:
    """The reaper with (almost) no tolerance: every running job is silent by now. (A zero
    timedelta is falsy, and fail_silent_jobs would take the 300 s default instead.)"""
    time.sleep(0.01)
    return services.fail_silent_jobs(silence=timedelta(milliseconds=1))


def test_a_job_whose_worker_is_killed_mid_run_is_failed_and_refunded_once(
    price_version, start_worker
):
    cost = SLOW_ROWS * PRICE
    customer = _customer(cost + 10)
    worker = start_worker()
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(SLOW_ROWS), filename="cars.csv"
    )
    assert _balance(customer) == 10

    job = _wait_for(
        job,
        lambda j: j.status == JobStatus.RUNNING and j.rows_done > 0,
        "ran (rows done > 0)",
    )
    _kill(worker)

    # Killed mid-run: the job stays running, charged, with no result and a heartbeat that stops.
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING, job.status
    assert 0 < job.rows_done < SLOW_ROWS
    assert not job.result
    beat = job.heartbeat_at
    time.sleep(0.3)
    job.refresh_from_db()
    assert job.heartbeat_at == beat, "the worker is dead: nobody beats any more"
    assert _ledger(job) == [(EntryKind.CHARGE, -cost, f"job:{job.pk}:charge")]
    assert _balance(customer) == 10

    # The reaper fails the silent job and refunds every row: none was delivered.
    assert _reap() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_code == "worker_lost"
    assert job.credits_refunded == cost
    assert job.finished_at is not None
    ledger = _ledger(job)
    assert ledger == [
        (EntryKind.CHARGE, -cost, f"job:{job.pk}:charge"),
        (EntryKind.REFUND, cost, f"job:{job.pk}:refund"),
    ]
    assert _balance(customer) == cost + 10
    assert _reap() == 0  # a second pass finds nothing

    # The message comes again (as the broker would redeliver it) to a new worker: it finds
    # the job taken, runs nothing, and the ledger stays as it is.
    start_worker()
    again = run_prediction_job.delay(str(job.pk))
    assert again.get(timeout=WAIT_SECONDS) is None
    finished_at = job.finished_at
    job.refresh_from_db()
    assert (job.status, job.finished_at, job.credits_refunded) == (
        JobStatus.FAILED,
        finished_at,
        cost,
    )
    assert not job.result
    assert _ledger(job) == ledger
    assert _balance(customer) == cost + 10


def test_a_job_finished_before_the_kill_is_left_alone(price_version, start_worker):
    rows = 5
    customer = _customer(100)
    worker = start_worker()
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(rows), filename="cars.csv"
    )
    job = _wait_for(job, lambda j: j.is_finished, "finished")
    assert job.status == JobStatus.SUCCEEDED
    _kill(worker)

    assert _reap() == 0
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.credits_refunded) == (JobStatus.SUCCEEDED, rows, 0)
    assert job.result
    ledger = _ledger(job)
    assert ledger == [(EntryKind.CHARGE, -rows * PRICE, f"job:{job.pk}:charge")]
    assert _balance(customer) == 100 - rows * PRICE

    start_worker()
    assert run_prediction_job.delay(str(job.pk)).get(timeout=WAIT_SECONDS) is None
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert _ledger(job) == ledger
    assert _balance(customer) == 100 - rows * PRICE
