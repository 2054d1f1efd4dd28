"""The prediction pages: the one-row form, the file quote and its confirmation, the job page,
its downloads and the job list, through the test client."""

import io
import re
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import CreditAccount
from predictions import services, views
from predictions.models import JobStatus, ModelVersion, PredictionJob
from tests.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
WAIT_SECONDS = 60  # a bound for the worker, not an expectation
# The moto server is local: no proxy of the environment may stand between.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(autouse=True)
def _in_process(request, monkeypatch, settings, tmp_path):
    # Without the worker the tests run jobs in-process: the view need not wait for one, and
    # files go to the test's own folder. With it, both processes share the configured storage.
    if "celery_worker" not in request.fixturenames:
        monkeypatch.setattr(views, "SINGLE_WAIT_SECONDS", 0)
        settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def class_version(price_version):
    return ModelVersion.objects.get(model__slug="tiny-class")


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _row(version, **values) -> dict:
    """Form data for one row: the form names its fields c0, c1, ... in schema order."""
    names = version.input_schema.names
    return {f"c{names.index(column)}": value for column, value in values.items()}


def _csv(rows: list[str], name: str = "cars.csv") -> SimpleUploadedFile:
    body = "Mileage,Make\n" + "\n".join(rows) + "\n"
    return SimpleUploadedFile(name, body.encode())


def _quote_token(response) -> str:
    return re.search(r'name="quote" value="([^"]+)"', response.content.decode()).group(1)


def _batch(user, version, rows=("1000,Saab", "2000,Buick")) -> PredictionJob:
    return services.submit_batch(
        user=user, version=version, upload=_csv(list(rows)), filename="a.csv"
    )


@pytest.mark.django_db
def test_the_model_page_has_a_field_per_schema_column(customer_client, price_version):
    response = customer_client.get(reverse("predictions:model", args=["tiny-price"]))
    html = response.content.decode()
    assert response.status_code == 200
    for index, column in enumerate(price_version.input_schema.columns):
        assert f'name="c{index}"' in html
        assert f">{column.name}<" in html
    assert '<option value="Saab">Saab</option>' in html
    assert 'type="number"' in html
    assert 'step="1"' in html
    assert 'min="' in html
    assert 'name="file"' in html


@pytest.mark.django_db
def test_the_one_row_form_starts_filled_with_the_example_row(customer_client, price_version):
    html = customer_client.get(reverse("predictions:model", args=["tiny-price"])).content.decode()
    schema = price_version.input_schema
    mileage = schema.names.index("Mileage")
    example = schema.column("Mileage").example
    assert re.search(rf'name="c{mileage}"[^>]*value="{example}"', html)
    make = schema.column("Make").example
    assert f'<option value="{make}" selected>{make}</option>' in html


@pytest.mark.django_db
def test_anonymous_visitors_are_asked_to_log_in_to_predict(client, price_version):
    html = client.get(reverse("predictions:model", args=["tiny-price"])).content.decode()
    assert "Log in to predict" in html
    assert 'name="c0"' not in html


@pytest.mark.django_db
def test_one_row_through_the_page_charges_and_shows_the_prediction(
    customer_client, customer, price_version
):
    url = reverse("predictions:predict", args=["tiny-price"])
    response = customer_client.post(url, _row(price_version, Mileage="12000", Make="Saab"), **HTMX)
    assert response.status_code == 200
    job = PredictionJob.objects.get(owner=customer)
    html = response.content.decode()
    assert "<html" not in html
    assert f"{reverse('jobs:detail', args=[job.pk])}?part=outcome" in html
    assert 'hx-trigger="every 1s"' in html
    assert _balance(customer) == 98

    services.run_job(job_id=job.pk)
    outcome = customer_client.get(f"{reverse('jobs:detail', args=[job.pk])}?part=outcome", **HTMX)
    html = outcome.content.decode()
    assert 'data-testid="prediction"' in html
    assert "hx-trigger" not in html
    assert "Cost: 2 credits." in html
    page = customer_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert 'data-testid="prediction"' in page
    assert "hx-trigger" not in page


@pytest.mark.django_db(transaction=True)
def test_one_row_on_the_real_worker_appears_in_place(
    celery_worker, customer_client, customer, price_version
):
    url = reverse("predictions:predict", args=["tiny-price"])
    response = customer_client.post(url, _row(price_version, Mileage="5000", Make="Buick"), **HTMX)
    html = response.content.decode()
    job = PredictionJob.objects.get(owner=customer)
    outcome = f"{reverse('jobs:detail', args=[job.pk])}?part=outcome"
    deadline = time.monotonic() + WAIT_SECONDS
    # Within the view's wait on a warm worker; a cold one is followed as the page polls.
    while "hx-trigger" in html and time.monotonic() < deadline:
        time.sleep(0.5)
        html = customer_client.get(outcome, **HTMX).content.decode()
    assert 'data-testid="prediction"' in html
    assert PredictionJob.objects.get(owner=customer).status == JobStatus.SUCCEEDED
    assert _balance(customer) == 98


@pytest.mark.django_db
def test_a_classifier_row_shows_the_class_and_its_probabilities(
    customer_client, customer, class_version
):
    url = reverse("predictions:predict", args=["tiny-class"])
    customer_client.post(url, _row(class_version, Mileage="2000", Make="Saab"), **HTMX)
    job = PredictionJob.objects.get(owner=customer)
    services.run_job(job_id=job.pk)
    html = customer_client.get(
        f"{reverse('jobs:detail', args=[job.pk])}?part=outcome", **HTMX
    ).content.decode()
    prediction = re.search(r'data-testid="prediction">(\w+)<', html).group(1)
    assert prediction in ("cheap", "dear")
    assert "<td>cheap</td>" in html
    assert "<td>dear</td>" in html


@pytest.mark.django_db
def test_an_invalid_row_shows_field_errors_and_charges_nothing(
    customer_client, customer, price_version
):
    url = reverse("predictions:predict", args=["tiny-price"])
    response = customer_client.post(url, _row(price_version, Mileage="lots", Make="Lada"), **HTMX)
    html = response.content.decode()
    assert 'data-testid="error-Mileage"' in html
    assert 'data-testid="error-Make"' in html
    assert "Lada" in html
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_a_row_without_enough_credits_says_how_many_are_missing(client, price_version):
    poor = UserFactory()
    billing.grant(user=poor, amount=1, memo="m", actor=None)
    client.force_login(poor)
    url = reverse("predictions:predict", args=["tiny-price"])
    response = client.post(url, _row(price_version, Mileage="100", Make="Saab"), **HTMX)
    html = response.content.decode()
    assert "1 credit missing." in html
    assert reverse("billing:billing") in html
    assert not PredictionJob.objects.exists()
    assert _balance(poor) == 1


@pytest.mark.django_db
def test_upload_quote_then_confirm_charges_once_and_opens_the_job(
    customer_client, customer, price_version
):
    quote = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]),
        {"file": _csv(["1000,Saab", "2000,Buick", "3000,Pontiac"], name="my cars.csv")},
        **HTMX,
    )
    html = quote.content.decode()
    assert quote.status_code == 200
    assert "3 rows × 2 = 6 credits" in html
    assert 'data-testid="balance-after">94<' in html
    assert _balance(customer) == 100
    assert not PredictionJob.objects.exists()

    confirm = customer_client.post(
        reverse("predictions:confirm", args=["tiny-price"]), {"quote": _quote_token(quote)}, **HTMX
    )
    job = PredictionJob.objects.get(owner=customer)
    assert confirm["HX-Redirect"] == reverse("jobs:detail", args=[job.pk])
    assert (job.rows_total, job.upload_name) == (3, "my_cars.csv")
    assert _balance(customer) == 94
    _, stored = default_storage.listdir(f"quotes/{customer.pk}")
    assert stored == []  # the quoted file is gone once the job holds its own copy

    page = customer_client.get(reverse("jobs:detail", args=[job.pk]))
    assert page.status_code == 200
    assert "Cancel the job" in page.content.decode()


@pytest.mark.django_db
def test_a_confirmed_quote_cannot_be_used_twice(customer_client, customer, price_version):
    quote = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]), {"file": _csv(["1,Saab"])}, **HTMX
    )
    url = reverse("predictions:confirm", args=["tiny-price"])
    first = customer_client.post(url, {"quote": _quote_token(quote)}, **HTMX)
    again = customer_client.post(url, {"quote": _quote_token(quote)}, **HTMX)
    assert PredictionJob.objects.count() == 1
    assert _balance(customer) == 98
    # A second click (a slow connection, the back button) opens the job it already started.
    assert again["HX-Redirect"] == first["HX-Redirect"]


@pytest.mark.django_db
def test_a_bad_file_shows_the_error_and_charges_nothing(customer_client, customer, price_version):
    response = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]),
        {"file": SimpleUploadedFile("x.csv", b"%PDF-1.7 not a table")},
        **HTMX,
    )
    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert 'name="quote"' not in response.content.decode()
    assert not default_storage.exists(f"quotes/{customer.pk}")
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_a_tampered_or_foreign_quote_is_refused(client, customer, price_version):
    client.force_login(customer)
    quote = client.post(
        reverse("predictions:quote", args=["tiny-price"]), {"file": _csv(["1,Saab"])}, **HTMX
    )
    token = _quote_token(quote)
    url = reverse("predictions:confirm", args=["tiny-price"])
    tampered = client.post(url, {"quote": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")})
    assert tampered.status_code == 302
    assert "no longer valid" in str(next(iter(tampered.wsgi_request._messages)))

    intruder = UserFactory()
    billing.grant(user=intruder, amount=100, memo="m", actor=None)
    client.force_login(intruder)
    client.post(url, {"quote": token})
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100
    assert _balance(intruder) == 100


@pytest.mark.django_db
def test_a_quote_beyond_the_balance_says_how_many_credits_are_missing(client, price_version):
    poor = UserFactory()
    billing.grant(user=poor, amount=3, memo="m", actor=None)
    client.force_login(poor)
    response = client.post(
        reverse("predictions:quote", args=["tiny-price"]),
        {"file": _csv(["1,Saab", "2,Saab"])},
        **HTMX,
    )
    html = response.content.decode()
    assert "1 credit missing." in html
    assert reverse("billing:billing") in html
    assert 'name="quote"' not in html


@pytest.mark.django_db
def test_the_progress_partial_polls_until_the_job_ends(customer_client, customer, price_version):
    job = _batch(customer, price_version, rows=["=1+1,Saab", "1000,Saab"])
    url = reverse("jobs:detail", args=[job.pk])
    running = customer_client.get(url, **HTMX).content.decode()
    assert 'id="job-progress"' in running
    assert "<html" not in running
    assert 'hx-trigger="every 1s"' in running
    assert "<progress" in running

    services.run_job(job_id=job.pk)
    finished = customer_client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in finished
    assert "Cancel the job" not in finished
    assert 'data-testid="preview"' in finished
    assert reverse("jobs:result", args=[job.pk]) in finished


@pytest.mark.django_db
def test_canceling_a_queued_job_refunds_it(customer_client, customer, price_version):
    job = _batch(customer, price_version)
    assert _balance(customer) == 96
    response = customer_client.post(reverse("jobs:cancel", args=[job.pk]), **HTMX)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED
    assert 'data-testid="refunded">4<' in response.content.decode()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_another_users_job_is_not_found(client, customer, price_version):
    job = _batch(customer, price_version)
    services.run_job(job_id=job.pk)
    client.force_login(UserFactory())
    for name in ("jobs:detail", "jobs:result", "jobs:upload"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


@pytest.mark.django_db
def test_the_job_list_filters_by_status_and_model(
    customer_client, customer, price_version, class_version
):
    kept = _batch(customer, price_version)
    canceled = services.cancel(job=_batch(customer, price_version))
    other_model = _batch(customer, class_version)

    def listed(**params) -> list:
        response = customer_client.get(reverse("jobs:list"), params)
        return [job.pk for job in response.context["page"].object_list]

    assert listed() == [other_model.pk, canceled.pk, kept.pk]
    assert listed(status="queued", model="tiny-price") == [kept.pk]
    assert listed(model="tiny-class") == [other_model.pk]
    today = timezone.localdate().isoformat()
    assert len(listed(date_from=today, date_to=today)) == 3
    assert listed(date_from="2000-01-01", date_to="2000-01-02") == []


@pytest.mark.django_db
def test_another_users_jobs_are_not_listed(client, customer, price_version):
    _batch(customer, price_version)
    client.force_login(UserFactory())
    assert list(client.get(reverse("jobs:list")).context["page"].object_list) == []


@pytest.mark.django_db
def test_the_result_download_keeps_formulas_as_text(customer_client, customer, price_version):
    job = _batch(customer, price_version, rows=["=1+1,Saab", "1000,Saab"])
    services.run_job(job_id=job.pk)
    response = customer_client.get(reverse("jobs:result", args=[job.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert "result.xlsx" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert sheet["A2"].value == "=1+1"
    assert sheet["A2"].data_type == "s"


@pytest.mark.django_db
def test_the_upload_download_is_the_original_file(customer_client, customer, price_version):
    job = _batch(customer, price_version, rows=["1000,Saab"])
    response = customer_client.get(reverse("jobs:upload", args=[job.pk]))
    assert 'filename="a.csv"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"Mileage,Make\n1000,Saab\n"


@pytest.mark.django_db
def test_a_purged_jobs_files_say_they_were_removed(customer_client, customer, price_version):
    job = _batch(customer, price_version)
    services.run_job(job_id=job.pk)
    PredictionJob.objects.filter(pk=job.pk).update(
        upload="", result="", data_purged_at=timezone.now()
    )
    response = customer_client.get(reverse("jobs:result", args=[job.pk]), follow=True)
    assert "files were removed" in response.content.decode()


@pytest.mark.django_db
def test_the_account_page_lists_recent_jobs(customer_client, customer, price_version):
    jobs = [_batch(customer, price_version, rows=["1,Saab"]) for _ in range(6)]
    response = customer_client.get(reverse("accounts:account"))
    html = response.content.decode()
    assert reverse("jobs:detail", args=[jobs[-1].pk]) in html
    assert reverse("jobs:detail", args=[jobs[0].pk]) not in html


@pytest.mark.django_db
def test_job_pages_need_a_login(client, customer, price_version):
    job = _batch(customer, price_version)
    for url in (reverse("jobs:list"), reverse("jobs:detail", args=[job.pk])):
        assert client.get(url).status_code == 302
    url = reverse("predictions:predict", args=["tiny-price"])
    assert client.post(url, _row(price_version, Mileage="1", Make="Saab")).status_code == 302
    assert not PredictionJob.objects.filter(kind="single").exists()


@pytest.mark.django_db
def test_wrong_methods_are_refused(customer_client, customer, price_version):
    job = _batch(customer, price_version)
    for name in ("predictions:predict", "predictions:quote", "predictions:confirm"):
        assert customer_client.get(reverse(name, args=["tiny-price"])).status_code == 405
    assert customer_client.get(reverse("jobs:cancel", args=[job.pk])).status_code == 405
    for name in ("jobs:list",):
        assert customer_client.post(reverse(name)).status_code == 405
    for name in ("jobs:detail", "jobs:result", "jobs:upload"):
        assert customer_client.post(reverse(name, args=[job.pk])).status_code == 405


@pytest.mark.django_db
def test_a_confirm_after_the_balance_fell_says_what_is_missing(
    customer_client, customer, price_version
):
    quote = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]), {"file": _csv(["1,Saab"] * 3)}, **HTMX
    )
    _batch(customer, price_version, rows=["1,Saab"] * 48)  # spends 96 of the 100 credits
    response = customer_client.post(
        reverse("predictions:confirm", args=["tiny-price"]),
        {"quote": _quote_token(quote)},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("billing:billing")
    assert "2 credits missing." in response.content.decode()
    assert PredictionJob.objects.count() == 1
    assert _balance(customer) == 4


@pytest.mark.django_db
def test_on_s3_the_result_download_is_a_short_signed_link(
    s3_default_storage, customer_client, customer, price_version
):
    quote = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]),
        {"file": _csv(["=1+1,Saab", "1000,Saab"])},
        **HTMX,
    )
    customer_client.post(
        reverse("predictions:confirm", args=["tiny-price"]), {"quote": _quote_token(quote)}
    )
    job = services.run_job(job_id=PredictionJob.objects.get(owner=customer).pk)
    response = customer_client.get(reverse("jobs:result", args=[job.pk]))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert 0 < int(query["X-Amz-Expires"][0]) <= 300
    assert "attachment" in query["response-content-disposition"][0]
    with NO_PROXY.open(response["Location"], timeout=10) as signed:
        sheet = openpyxl.load_workbook(io.BytesIO(signed.read())).active
    assert sheet["A2"].data_type == "s"
    _, quoted = s3_default_storage.listdir(f"quotes/{customer.pk}/")
    assert quoted == []


@pytest.mark.django_db
def test_a_confirm_racing_another_charges_once(customer_client, customer, price_version):
    quote = customer_client.post(
        reverse("predictions:quote", args=["tiny-price"]), {"file": _csv(["1,Saab"])}, **HTMX
    )
    token = _quote_token(quote)
    key = signing.loads(token, salt=views.QUOTE_SALT)["key"]
    # The other request got there first and is still running: its job holds the quote's key.
    first = services.submit_batch(
        user=customer,
        version=price_version,
        upload=_csv(["1,Saab"]),
        filename="a.csv",
        idempotency_key=f"page-quote:{key}",
    )
    response = customer_client.post(
        reverse("predictions:confirm", args=["tiny-price"]), {"quote": token}, **HTMX
    )
    assert response["HX-Redirect"] == reverse("jobs:detail", args=[first.pk])
    assert PredictionJob.objects.count() == 1
    assert _balance(customer) == 98
