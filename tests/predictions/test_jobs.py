"""Prediction jobs through their services, run in-process or on the real Celery worker."""

import io
import time

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing import services as billing
from billing.models import CreditAccount, LedgerEntry
from mfdp.errors import InvalidInput
from predictions import services
from predictions.models import JobStatus, PredictionJob
from tests.factories import UserFactory

WAIT_SECONDS = 60  # a bound for the worker, not an expectation


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _csv(rows: list[str]) -> SimpleUploadedFile:
    body = "Mileage,Make\n" + "\n".join(rows) + "\n"
    return SimpleUploadedFile("cars.csv", body.encode())


def _wait_until_finished(job: PredictionJob) -> PredictionJob:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.status} after {WAIT_SECONDS} s")


def _result_rows(job: PredictionJob) -> list[tuple]:
    with job.result.open("rb") as stored:
        sheet = openpyxl.load_workbook(io.BytesIO(stored.read())).worksheets[0]
    return [tuple(cell.value for cell in row) for row in sheet.iter_rows()]


@pytest.mark.django_db
def test_a_quote_charges_nothing(customer, price_version):
    quote = services.quote(user=customer, version=price_version, rows=30)
    assert (quote.cost, quote.balance, quote.balance_after) == (60, 100, 40)
    assert quote.affordable
    assert services.quote(user=customer, version=price_version, rows=60).shortfall == 20
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_an_invalid_row_is_refused_before_any_charge(customer, price_version):
    with pytest.raises(InvalidInput) as caught:
        services.submit_single(
            user=customer, version=price_version, record={"Mileage": "lots", "Make": "Lada"}
        )
    assert caught.value.code == "invalid_row"
    assert {p["column"] for p in caught.value.details["problems"]} == {"Mileage", "Make"}
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_insufficient_credits_create_no_job(price_version):
    poor = UserFactory()
    billing.grant(user=poor, amount=3, memo="m", actor=None)
    with pytest.raises(billing.InsufficientCredits) as caught:
        services.submit_batch(
            user=poor, version=price_version, upload=_csv(["1,Saab", "2,Saab"]), filename="a.csv"
        )
    assert caught.value.shortfall == 1
    assert not PredictionJob.objects.exists()
    assert _balance(poor) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"Mileage\n100\n", "missing_columns"),
        (b"%PDF-1.7 not a table", "unsupported_format"),
    ],
)
def test_a_bad_file_costs_nothing(customer, price_version, content, code):
    with pytest.raises(InvalidInput) as caught:
        services.submit_batch(
            user=customer,
            version=price_version,
            upload=SimpleUploadedFile("x.csv", content),
            filename="x.csv",
        )
    assert caught.value.code == code
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_canceling_a_queued_job_refunds_it_all_at_once(customer, price_version):
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(["1,Saab"] * 5), filename="a.csv"
    )
    assert _balance(customer) == 90
    canceled = services.cancel(job=job)
    assert canceled.status == JobStatus.CANCELED
    assert canceled.credits_refunded == 10
    assert _balance(customer) == 100
    assert services.run_job(job_id=job.pk) is None  # its message, delivered late, runs nothing


@pytest.mark.django_db
def test_a_job_runs_once_however_often_its_message_comes(customer, price_version):
    job = services.submit_single(
        user=customer, version=price_version, record={"Mileage": 12000, "Make": "saab"}
    )
    first = services.run_job(job_id=job.pk)
    second = services.run_job(job_id=job.pk)
    assert first.status == JobStatus.SUCCEEDED
    assert second is None
    assert isinstance(first.output["prediction"], float)
    assert LedgerEntry.objects.filter(account__user=customer, kind="charge").count() == 1
    assert _balance(customer) == 98


@pytest.mark.django_db
def test_a_batch_with_bad_rows_is_refunded_exactly_for_them(customer, price_version):
    rows = ["12000,Saab", "lots,Saab", "9000,buick", "8000,Lada", "=1+1,Saab", "7000,Pontiac"]
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(rows), filename="my cars.csv"
    )
    assert _balance(customer) == 100 - 6 * 2
    finished = services.run_job(job_id=job.pk)
    assert finished.status == JobStatus.SUCCEEDED
    assert (finished.rows_done, finished.rows_failed) == (3, 3)
    assert finished.credits_refunded == 3 * 2
    assert _balance(customer) == 100 - 3 * 2
    table = _result_rows(finished)
    assert table[0] == ("Mileage", "Make", "prediction", "error")
    assert table[1][3] is None
    assert isinstance(table[1][2], float)
    assert "not a number" in table[2][3]
    assert "Lada" in table[4][3]
    assert table[5][0] == "=1+1"  # stays text, never a formula
    # A CSV's numbers come back as numbers where valid; a bad cell as it was written.
    assert [row[0] for row in table[1:4]] == [12000, "lots", 9000]
    assert finished.upload_name == "my_cars.csv"


@pytest.mark.django_db
def test_canceling_a_running_job_keeps_what_was_predicted(customer, price_version, settings):
    settings.PREDICT_CHUNK_ROWS = 2
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(["1000,Saab"] * 6), filename="a.csv"
    )
    # The customer's cancel arrives while the worker runs: it stops after its first chunk.
    PredictionJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    finished = services.run_job(job_id=job.pk)
    assert finished.status == JobStatus.CANCELED
    assert finished.rows_done == 2
    assert finished.credits_refunded == 4 * 2
    assert _balance(customer) == 100 - 2 * 2
    errors = [row[3] for row in _result_rows(finished)[1:]]
    assert errors[:2] == [None, None]
    assert all("canceled" in error for error in errors[2:])


@pytest.mark.django_db
def test_a_silent_worker_is_failed_and_refunded(customer, price_version):
    from datetime import timedelta

    job = services.submit_single(
        user=customer, version=price_version, record={"Mileage": 1, "Make": "Saab"}
    )
    PredictionJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=None)
    assert services.fail_silent_jobs(silence=timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_code == "worker_lost"
    assert _balance(customer) == 100


@pytest.mark.django_db(transaction=True)
def test_one_row_and_a_batch_on_the_real_worker(celery_worker, customer, price_version):
    billing.grant(user=customer, amount=2000, memo="a big file", actor=None)
    single = services.submit_single(
        user=customer, version=price_version, record={"Mileage": 5000, "Make": "Buick"}
    )
    batch = services.submit_batch(
        user=customer,
        version=price_version,
        upload=_csv([f"{1000 + i},Saab" for i in range(1000)]),
        filename="cars.csv",
    )
    single = _wait_until_finished(single)
    batch = _wait_until_finished(batch)
    assert single.status == JobStatus.SUCCEEDED
    assert batch.status == JobStatus.SUCCEEDED
    assert batch.rows_done == 1000
    assert len(_result_rows(batch)) == 1001
    assert _balance(customer) == 2100 - 2 - 2000
    assert batch.credits_refunded == 0


@pytest.mark.django_db
def test_a_worker_process_warms_up_with_every_catalog_model(price_version, monkeypatch):
    from predictions.services import jobs

    monkeypatch.setattr(jobs, "model_cache", jobs._ModelCache())
    assert services.warm_up_models() == 2  # tiny-price and tiny-class
    assert price_version.sha256 in jobs.model_cache._models


@pytest.mark.django_db
def test_a_running_job_never_says_100_percent(customer, price_version):
    job = services.submit_batch(
        user=customer, version=price_version, upload=_csv(["1,Saab", "2,Saab"]), filename="a.csv"
    )
    job.status, job.rows_done = JobStatus.RUNNING, 2
    assert job.progress_percent == 99
    job.status = JobStatus.SUCCEEDED
    assert job.progress_percent == 100
