"""Where job files live and how they go: random keys under the owner's prefix, private, never
overwritten, kept for the retention period, on S3 (moto over HTTP) and on the filesystem."""

import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from billing import services as billing
from billing.models import CreditAccount
from predictions import services
from predictions.models import JobStatus, PredictionJob
from tests.factories import UserFactory

HEX_KEY = r"[0-9a-f]{32}"


@pytest.fixture(params=["filesystem", "s3"])
def storage(request, settings, tmp_path):
    """Django's default storage: the embedded filesystem default, or S3 on a moto bucket."""
    if request.param == "s3":
        return request.getfixturevalue("s3_default_storage")
    settings.MEDIA_ROOT = tmp_path / "media"
    return default_storage


def _csv(rows: list[str], name: str = "cars.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("Mileage,Make\n" + "\n".join(rows) + "\n").encode())


def _finished_batch(user, version, *, name: str = "cars.csv") -> PredictionJob:
    job = services.submit_batch(
        user=user, version=version, upload=_csv(["=1+1,Saab", "1000,Saab"], name), filename=name
    )
    return services.run_job(job_id=job.pk)


@pytest.mark.django_db
def test_on_s3_job_files_are_private_random_keys_under_the_owner(
    s3_default_storage, s3_bucket, customer, price_version
):
    job = _finished_batch(customer, price_version, name="../Q3 prices; DROP.csv")
    assert job.status == JobStatus.SUCCEEDED
    listing = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    keys = sorted(item["Key"] for item in listing if not item["Key"].startswith("models/"))
    owner = f"{customer.pk}/{job.pk}"
    assert len(keys) == 2, keys
    assert re.fullmatch(rf"results/{owner}/{HEX_KEY}\.xlsx", keys[0])
    assert re.fullmatch(rf"uploads/{owner}/{HEX_KEY}\.csv", keys[1])
    # The customer's file name is data on the job, sanitized, never part of a key.
    assert job.upload_name == "Q3_prices_DROP.csv"
    for key in keys:
        grants = s3_bucket.client.get_object_acl(Bucket=s3_bucket.name, Key=key)["Grants"]
        assert [grant["Grantee"].get("URI") for grant in grants] == [None], "owner only"
    with job.result.open("rb") as stored:
        sheet = openpyxl.load_workbook(io.BytesIO(stored.read())).active
    assert sheet["A2"].value == "=1+1"
    assert sheet["A2"].data_type == "s"


@pytest.mark.django_db
def test_on_s3_a_second_file_of_the_same_name_never_overwrites_the_first(s3_default_storage):
    first = s3_default_storage.save("uploads/1/same.csv", ContentFile(b"first"))
    second = s3_default_storage.save("uploads/1/same.csv", ContentFile(b"second"))
    assert first != second
    with s3_default_storage.open(first, "rb") as stored:
        assert stored.read() == b"first"


@pytest.mark.django_db
def test_purge_removes_old_files_and_keeps_the_job_and_its_money(storage, customer, price_version):
    old = _finished_batch(customer, price_version)
    recent = _finished_batch(customer, price_version)
    old_files = [old.upload.name, old.result.name]
    PredictionJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=40))
    balance = CreditAccount.objects.get(user=customer).balance

    assert services.purge_old_files() == 1
    assert services.purge_old_files() == 0, "a second run finds nothing left"

    old.refresh_from_db()
    assert old.data_purged_at is not None
    assert not old.upload
    assert not old.result
    assert not any(storage.exists(name) for name in old_files)
    recent.refresh_from_db()
    assert recent.data_purged_at is None
    assert storage.exists(recent.upload.name)
    assert storage.exists(recent.result.name)
    assert CreditAccount.objects.get(user=customer).balance == balance


@pytest.mark.django_db
def test_the_retention_period_is_a_setting(settings, storage, customer, price_version):
    job = _finished_batch(customer, price_version)
    PredictionJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=3))
    settings.JOB_FILES_RETENTION_DAYS = 7
    assert services.purge_old_files() == 0
    settings.JOB_FILES_RETENTION_DAYS = 2
    assert services.purge_old_files() == 1


@pytest.mark.django_db
def test_unconfirmed_quoted_uploads_are_swept_once_the_quote_expires(storage, customer):
    key = services.quote_upload_hold(user=customer, upload=_csv(["1000,Saab"]))
    assert key.startswith(f"quotes/{customer.pk}/")
    assert services.sweep_quote_uploads() == 0, "a quote still valid keeps its file"
    later = timezone.now() + services.QUOTE_HOLD + timedelta(minutes=1)
    assert services.sweep_quote_uploads(now=later) == 1
    assert not storage.exists(key)
    assert services.sweep_quote_uploads(now=later) == 0


@pytest.mark.django_db
def test_a_swept_quote_can_no_longer_be_confirmed(storage, customer, price_version):
    key = services.quote_upload_hold(user=customer, upload=_csv(["1000,Saab"]))
    services.sweep_quote_uploads(now=timezone.now() + 2 * services.QUOTE_HOLD)
    with pytest.raises(services.QuoteExpired):
        services.submit_quoted_upload(
            user=customer, version=price_version, key=key, filename="cars.csv"
        )
    assert not PredictionJob.objects.exists()
    assert CreditAccount.objects.get(user=customer).balance == 100


@pytest.mark.django_db
def test_another_customers_quote_key_is_refused(storage, customer, price_version):
    key = services.quote_upload_hold(user=customer, upload=_csv(["1000,Saab"]))
    other = UserFactory()
    billing.grant(user=other, amount=100, memo="test credits", actor=None)
    with pytest.raises(services.QuoteExpired):
        services.submit_quoted_upload(user=other, version=price_version, key=key, filename="a.csv")
    assert storage.exists(key)
    assert not PredictionJob.objects.exists()


@pytest.mark.django_db
def test_the_purge_command_reports_what_it_removed(storage, customer, price_version):
    job = _finished_batch(customer, price_version)
    PredictionJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=40))
    out = io.StringIO()
    call_command("purge_job_files", stdout=out)
    assert "files of 1 finished job(s) and 0 unconfirmed upload(s)" in out.getvalue()
