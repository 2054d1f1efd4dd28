"""Staff and jobs in the admin: find them, open their files, cancel, stop and refund, run a
failed one again for free. Every action goes through a service and leaves a log entry."""

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry
from predictions import services
from predictions.models import JobStatus, PredictionJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:predictions_predictionjob_changelist")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _batch(customer, version, rows=("1000,Saab", "2000,Buick")) -> PredictionJob:
    upload = SimpleUploadedFile("cars.csv", ("Mileage,Make\n" + "\n".join(rows)).encode())
    return services.submit_batch(user=customer, version=version, upload=upload, filename="c.csv")


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _act(client, action: str, *jobs):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(job.pk) for job in jobs]},
        follow=True,
    )


def test_staff_find_jobs_by_id_email_status_and_model(staff_client, customer, price_version):
    job = _batch(customer, price_version)
    by_id = staff_client.get(CHANGELIST, {"q": str(job.pk)})
    assert by_id.status_code == 200
    assert list(by_id.context["cl"].result_list) == [job]
    by_email = staff_client.get(CHANGELIST, {"q": customer.email})
    assert list(by_email.context["cl"].result_list) == [job]
    assert staff_client.get(CHANGELIST, {"q": "not-a-uuid"}).status_code == 200
    assert (
        list(staff_client.get(CHANGELIST, {"status": "succeeded"}).context["cl"].result_list) == []
    )
    page = staff_client.get(reverse("admin:predictions_predictionjob_change", args=[job.pk]))
    assert page.status_code == 200


def test_staff_open_a_jobs_files_and_customers_cannot(
    staff_client, client, customer, price_version
):
    job = services.run_job(job_id=_batch(customer, price_version).pk)
    url = reverse("admin:predictions_predictionjob_file", args=[job.pk, "result"])
    page = staff_client.get(reverse("admin:predictions_predictionjob_change", args=[job.pk]))
    assert url in page.content.decode()
    response = staff_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert staff_client.get(url.replace("/result/", "/nothing/")).status_code == 404
    client.force_login(customer)
    assert client.get(url).status_code == 302  # to the admin's log-in: customers never get in


def test_cancel_refunds_a_queued_job_and_is_logged(staff_client, staff, customer, price_version):
    job = _batch(customer, price_version)
    _act(staff_client, "cancel_jobs", job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED
    assert _balance(customer) == 100
    entry = LogEntry.objects.get(object_id=str(job.pk))
    assert (entry.user, entry.change_message) == (staff, "canceled")


def test_stop_and_refund_ends_a_stuck_job_once(staff_client, customer, price_version):
    job = _batch(customer, price_version)
    PredictionJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    _act(staff_client, "stop_and_refund", job)
    _act(staff_client, "stop_and_refund", job)  # finished now: left alone
    job.refresh_from_db()
    assert (job.status, job.error_code, job.credits_refunded) == (
        JobStatus.FAILED,
        "stopped_by_staff",
        4,
    )
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert _balance(customer) == 100


def test_a_failed_job_runs_again_free_of_charge(staff_client, customer, price_version):
    job = _batch(customer, price_version)
    PredictionJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    services.stop_and_refund(job=job)
    response = _act(staff_client, "rerun_free", job)
    assert response.status_code == 200
    again = PredictionJob.objects.exclude(pk=job.pk).get()
    assert (again.owner, again.cost_charged, again.price_per_row) == (customer, 0, 0)
    finished = services.run_job(job_id=again.pk)
    assert finished.status == JobStatus.SUCCEEDED
    assert finished.rows_done == 2
    assert finished.credits_refunded == 0
    assert _balance(customer) == 100
    # A job that did not fail cannot be run again for free.
    response = _act(staff_client, "rerun_free", finished)
    assert "Only a failed job" in response.content.decode()
    assert PredictionJob.objects.count() == 2
