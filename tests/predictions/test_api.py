"""The predictions API with tokens (DRF's APIClient): create (one row, rows inline, a file),
idempotency keys, waiting, cancel, result, quotes, errors, throttles."""

import io
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import openpyxl
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import ApiToken
from accounts.throttles import TokenThrottle
from billing import services as billing
from billing.models import CreditAccount, LedgerEntry
from predictions import api as predictions_api
from predictions import services
from predictions.models import PredictionJob
from tests.factories import UserFactory, issue_token

PREDICTIONS = "/api/v1/predictions/"
QUOTES = "/api/v1/quotes/"
ROW = {"Mileage": 12000, "Make": "Saab"}


def _job_url(job_id, suffix: str = "") -> str:
    return f"{PREDICTIONS}{job_id}/{suffix}"


def _balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def _csv(rows: list[str], name: str = "cars.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("Mileage,Make\n" + "\n".join(rows) + "\n").encode())


@pytest.fixture
def api(api_client, customer):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}")
    return api_client


def _run(response) -> PredictionJob:
    return services.run_job(job_id=response.json()["id"])


# ----------------------------------------------------------------------------- creating


@pytest.mark.django_db
def test_one_row_is_charged_queued_and_then_shows_its_output(api, customer, price_version):
    response = api.post(PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == _job_url(body["id"])
    assert body["status"] == "queued"
    assert body["kind"] == "single"
    assert (body["cost"], body["refund"], body["price_per_row"]) == (2, 0, 2)
    assert body["progress"] == {"rows_total": 1, "rows_done": 0, "rows_failed": 0}
    assert body["output"] is None
    assert _balance(customer) == 98

    _run(response)
    done = api.get(_job_url(body["id"]))
    assert done.status_code == 200
    assert done.json()["status"] == "succeeded"
    assert isinstance(done.json()["output"]["prediction"], float)
    assert done.json()["progress"]["rows_done"] == 1


@pytest.mark.django_db
def test_rows_inline_come_back_inline_and_as_a_file(api, customer, price_version):
    rows = [ROW, {"Mileage": 3000, "Make": "Buick"}, {"mileage": 50, "make": "Pontiac"}]
    response = api.post(PREDICTIONS, {"model": "tiny-price", "inputs": rows}, format="json")
    assert response.status_code == 202
    assert response.json()["cost"] == 6
    _run(response)
    body = api.get(_job_url(response.json()["id"])).json()
    assert body["status"] == "succeeded"
    assert [row["error"] for row in body["output"]] == [None, None, None]
    assert all(isinstance(row["prediction"], float) for row in body["output"])
    assert body["result_url"].endswith(_job_url(body["id"], "result/"))
    result = api.get(_job_url(body["id"], "result/"))
    assert result.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(result.streaming_content))).active
    assert sheet.max_row == 4


@pytest.mark.django_db
def test_one_bad_inline_row_refuses_them_all_and_costs_nothing(api, customer, price_version):
    rows = [ROW, {"Mileage": "lots", "Make": "Saab"}, {"Mileage": 5, "Make": "Lada"}]
    response = api.post(PREDICTIONS, {"model": "tiny-price", "inputs": rows}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert [(problem["row"], problem["column"]) for problem in body["problems"]] == [
        (1, "Mileage"),
        (2, "Make"),
    ]
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"model": "tiny-price"}, "non_field_errors"),
        ({"model": "tiny-price", "input": ROW, "inputs": [ROW]}, "non_field_errors"),
        ({"model": "no-such-model", "input": ROW}, "model"),
        ({"model": "tiny-price", "input": {**ROW, "Colour": "red"}}, "input"),
        ({"model": "tiny-price", "input": "12000,Saab"}, "input"),
        ({"model": "tiny-price", "inputs": [ROW, {**ROW, "Colour": "red"}]}, "inputs[1]"),
    ],
)
def test_a_malformed_request_names_the_field_and_costs_nothing(
    api, customer, price_version, payload, field
):
    response = api.post(PREDICTIONS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert field in response.json()["errors"]
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_too_many_inline_rows_point_to_a_file(api, settings, price_version):
    settings.API_INLINE_ROWS_MAX = 2
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "inputs": [ROW, ROW, ROW]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "inline_rows_limit"
    assert response.json()["limit"] == 2


@pytest.mark.django_db
def test_a_file_batch_refunds_its_bad_rows(api, customer, price_version, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = _csv(["1000,Saab", "x,Saab", "3000,Lada", "4000,Buick"])
    response = api.post(PREDICTIONS, {"model": "tiny-price", "file": upload}, format="multipart")
    assert response.status_code == 202
    assert response.json()["file_name"] == "cars.csv"
    assert response.json()["cost"] == 8
    _run(response)
    body = api.get(_job_url(response.json()["id"])).json()
    assert body["status"] == "succeeded"
    assert body["progress"] == {"rows_total": 4, "rows_done": 2, "rows_failed": 2}
    assert body["refund"] == 4
    assert body["output"] is None
    assert _balance(customer) == 96


@pytest.mark.django_db
def test_a_file_that_is_not_a_table_costs_nothing(api, customer, price_version):
    upload = SimpleUploadedFile("cars.xlsx", b"%PDF-1.4 not a spreadsheet")
    response = api.post(PREDICTIONS, {"model": "tiny-price", "file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] != "invalid_input"  # the reader's own, specific code
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


@pytest.mark.django_db
def test_insufficient_credits_is_402_and_creates_nothing(api_client, price_version):
    poor = UserFactory()
    billing.grant(user=poor, amount=3, memo="m", actor=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(poor)}")
    response = api_client.post(
        PREDICTIONS, {"model": "tiny-price", "inputs": [ROW, ROW]}, format="json"
    )
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "insufficient_credits"
    assert (body["required"], body["balance"], body["shortfall"]) == (4, 3, 1)
    assert not PredictionJob.objects.exists()
    assert _balance(poor) == 3


@pytest.mark.django_db
def test_a_revoked_token_is_401(api_client, customer, price_version):
    key = issue_token(customer)
    account_services.api_token_revoke(token=ApiToken.objects.get(user=customer))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api_client.post(PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert not PredictionJob.objects.exists()


# ----------------------------------------------------------------------------- reading


@pytest.mark.django_db
def test_another_users_job_is_404_everywhere(api, customer, price_version, api_client):
    job = services.submit_single(user=customer, version=price_version, record=ROW)
    services.run_job(job_id=job.pk)
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(UserFactory())}")
    assert intruder.get(_job_url(job.pk)).status_code == 404
    assert intruder.post(_job_url(job.pk, "cancel/")).status_code == 404
    assert intruder.get(_job_url(job.pk, "result/")).status_code == 404
    assert intruder.get(PREDICTIONS).json()["count"] == 0
    assert intruder.get(_job_url(uuid.uuid4())).json()["code"] == "not_found"


@pytest.mark.django_db
def test_the_history_filters_by_status_and_model(api, customer, price_version):
    first = services.submit_single(user=customer, version=price_version, record=ROW)
    services.submit_single(user=customer, version=price_version, record=ROW)
    services.run_job(job_id=first.pk)
    everything = api.get(PREDICTIONS).json()
    assert everything["count"] == 2
    succeeded = api.get(PREDICTIONS, {"status": "succeeded", "model": "tiny-price"}).json()
    assert [job["id"] for job in succeeded["results"]] == [str(first.pk)]
    assert api.get(PREDICTIONS, {"status": "exploded"}).status_code == 400


@pytest.mark.django_db
def test_a_result_before_it_exists_is_409(api, customer, price_version):
    job = services.submit_single(user=customer, version=price_version, record=ROW)
    response = api.get(_job_url(job.pk, "result/"))
    assert response.status_code == 409
    assert response.json()["code"] == "result_not_ready"


@pytest.mark.django_db
def test_on_s3_the_result_is_a_short_signed_link(s3_default_storage, api, price_version):
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "file": _csv(["1000,Saab"])}, format="multipart"
    )
    _run(response)
    result = api.get(_job_url(response.json()["id"], "result/"))
    assert result.status_code == 302
    assert "X-Amz-Expires=300" in result["Location"]


@pytest.mark.django_db
def test_on_s3_links_are_signed_for_the_public_endpoint_and_work_there(
    settings, s3_default_storage, s3_bucket, api, price_version
):
    # The servers reach the test's S3 as 127.0.0.1, clients as localhost: two host names,
    # as minio:9000 and a public name are under compose.
    public = s3_bucket.endpoint_url.replace("127.0.0.1", "localhost")
    settings.S3_PUBLIC_ENDPOINT_URL = public
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "file": _csv(["1000,Saab"])}, format="multipart"
    )
    _run(response)
    location = api.get(_job_url(response.json()["id"], "result/"))["Location"]
    assert location.startswith(f"{public}/{s3_bucket.name}/results/")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(location, timeout=10) as download:
        workbook = openpyxl.load_workbook(io.BytesIO(download.read()))
    assert workbook.active.max_row == 2
    assert "result.xlsx" in download.headers["Content-Disposition"]


# ----------------------------------------------------------------------------- cancel


@pytest.mark.django_db
def test_canceling_a_queued_job_refunds_it_and_a_finished_one_is_409(api, customer, price_version):
    created = api.post(PREDICTIONS, {"model": "tiny-price", "inputs": [ROW, ROW]}, format="json")
    canceled = api.post(_job_url(created.json()["id"], "cancel/"))
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["refund"] == 4
    assert _balance(customer) == 100
    again = api.post(_job_url(created.json()["id"], "cancel/"))
    assert again.status_code == 409
    assert again.json()["code"] == "job_finished"
    assert _balance(customer) == 100


# ----------------------------------------------------------------------------- quotes


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "fmt", "rows"),
    [
        ({"model": "tiny-price", "rows": 30}, "json", 30),
        ({"model": "tiny-price", "input": ROW}, "json", 1),
        ({"model": "tiny-price", "inputs": [ROW, ROW, ROW]}, "json", 3),
        ({"model": "tiny-price", "file": "FILE"}, "multipart", 4),
    ],
)
def test_a_quote_says_the_cost_and_charges_nothing(
    api, customer, price_version, payload, fmt, rows
):
    if payload.get("file") == "FILE":
        payload = {**payload, "file": _csv(["1,Saab"] * 4)}
    response = api.post(QUOTES, payload, format=fmt)
    assert response.status_code == 200
    assert response.json() == {
        "model": "tiny-price",
        "rows": rows,
        "price_per_row": 2,
        "cost": rows * 2,
        "balance": 100,
        "balance_after": 100 - rows * 2,
        "affordable": rows * 2 <= 100,
        "shortfall": max(0, rows * 2 - 100),
    }
    assert not PredictionJob.objects.exists()
    assert not LedgerEntry.objects.filter(kind="charge").exists()


# ----------------------------------------------------------------------------- idempotency


@pytest.mark.django_db
def test_the_same_key_and_body_replay_the_first_answer(api, customer, price_version):
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-42"}
    first = api.post(PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json", **headers)
    services.run_job(job_id=first.json()["id"])  # the job moves on; the replay does not
    again = api.post(PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json", **headers)
    assert again.status_code == first.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert PredictionJob.objects.count() == 1
    assert _balance(customer) == 98


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409(api, customer, price_version):
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-43"}
    api.post(PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json", **headers)
    other = {"model": "tiny-price", "input": {**ROW, "Mileage": 1}}
    response = api.post(PREDICTIONS, other, format="json", **headers)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert PredictionJob.objects.count() == 1


@pytest.mark.django_db
def test_two_users_may_use_the_same_key(api, customer, price_version):
    other = UserFactory()
    billing.grant(user=other, amount=10, memo="m", actor=None)
    other_api = APIClient()
    other_api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(other)}")
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    body = {"model": "tiny-price", "input": ROW}
    assert api.post(PREDICTIONS, body, format="json", **headers).status_code == 202
    assert other_api.post(PREDICTIONS, body, format="json", **headers).status_code == 202
    assert PredictionJob.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_request_does_not_hold_its_key(api_client, price_version):
    poor = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(poor)}")
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    body = {"model": "tiny-price", "input": ROW}
    assert api_client.post(PREDICTIONS, body, format="json", **headers).status_code == 402
    billing.grant(user=poor, amount=5, memo="top-up", actor=None)
    retried = api_client.post(PREDICTIONS, body, format="json", **headers)
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "ключ"])
def test_an_unusable_key_is_refused(api, price_version, key):
    response = api.post(
        PREDICTIONS,
        {"model": "tiny-price", "input": ROW},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not PredictionJob.objects.exists()


@pytest.mark.django_db
def test_a_file_retried_with_its_key_is_one_job(api, customer, price_version, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    headers = {"HTTP_IDEMPOTENCY_KEY": "upload-1"}
    first = api.post(
        PREDICTIONS,
        {"model": "tiny-price", "file": _csv(["1,Saab"])},
        format="multipart",
        **headers,
    )
    again = api.post(
        PREDICTIONS,
        {"model": "tiny-price", "file": _csv(["1,Saab"])},
        format="multipart",
        **headers,
    )
    changed = api.post(
        PREDICTIONS,
        {"model": "tiny-price", "file": _csv(["2,Saab"])},
        format="multipart",
        **headers,
    )
    assert again.json()["id"] == first.json()["id"]
    assert changed.status_code == 409
    assert PredictionJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_make_one_job(customer, price_version):
    key = issue_token(customer)
    start = threading.Barrier(20)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        start.wait(timeout=30)
        try:
            response = client.post(
                PREDICTIONS,
                {"model": "tiny-price", "input": ROW},
                format="json",
                HTTP_IDEMPOTENCY_KEY="burst",
            )
            return response.status_code, response.json().get("id")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    assert PredictionJob.objects.count() == 1
    job = PredictionJob.objects.get()
    assert answers == [(202, str(job.pk))] * 20
    assert LedgerEntry.objects.filter(kind="charge").count() == 1
    assert _balance(customer) == 98


# ----------------------------------------------------------------------------- waiting


@pytest.mark.django_db
def test_without_a_free_wait_slot_the_answer_comes_at_once(api, price_version, monkeypatch):
    monkeypatch.setattr(predictions_api, "_wait_slots", threading.BoundedSemaphore(1))
    predictions_api._wait_slots.acquire()
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json", HTTP_PREFER="wait=30"
    )
    assert response.status_code == 202
    assert "Preference-Applied" not in response


@pytest.mark.django_db
def test_a_wait_that_runs_out_answers_202_with_the_job(api, price_version):
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "input": ROW}, format="json", HTTP_PREFER="wait=1"
    )
    assert response.status_code == 202
    assert response["Preference-Applied"] == "wait=1"
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("wait=5", 5), ("respond-async, wait=10", 10), ("wait=600", 60), ("wait=x", 0), ("", 0)],
)
def test_prefer_wait_is_read_and_bounded(rf, header, seconds):
    request = rf.get("/", HTTP_PREFER=header)
    assert predictions_api._wait_seconds(request) == seconds


# ----------------------------------------------------------------------------- throttles


@pytest.mark.django_db
def test_creations_are_throttled_per_token_with_retry_after(api, monkeypatch, price_version):
    rates = {"api_create": "2/min", "api_read": "100/min"}
    monkeypatch.setattr(TokenThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    codes = [api.post(QUOTES, {"model": "tiny-price", "rows": 1}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    throttled = api.post(QUOTES, {"model": "tiny-price", "rows": 1})
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert api.get(PREDICTIONS).status_code == 200, "reads are counted apart"


# ----------------------------------------------------------------------------- on the worker


@pytest.mark.django_db(transaction=True)
def test_the_integrator_journey_on_the_real_worker(celery_worker, customer, price_version):
    billing.grant(user=customer, amount=1000, memo="top-up", actor=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(customer)}")
    models = client.get("/api/v1/models/").json()
    assert "tiny-price" in [model["slug"] for model in models["results"]]
    quote = client.post(QUOTES, {"model": "tiny-price", "input": ROW}, format="json").json()
    assert quote["cost"] == 2

    one = client.post(
        PREDICTIONS,
        {"model": "tiny-price", "input": ROW},
        format="json",
        HTTP_PREFER="wait=60",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert one.status_code == 201, one.json()
    assert one.json()["status"] == "succeeded"
    assert isinstance(one.json()["output"]["prediction"], float)

    rows = [f"{1000 + row},Saab" for row in range(200)] + ["x,Saab"]
    batch = client.post(
        PREDICTIONS, {"model": "tiny-price", "file": _csv(rows)}, format="multipart"
    )
    assert batch.status_code in (201, 202)
    finished = client.get(_job_url(batch.json()["id"]), HTTP_PREFER="wait=60").json()
    assert finished["status"] == "succeeded"
    assert finished["progress"] == {"rows_total": 201, "rows_done": 200, "rows_failed": 1}
    result = client.get(_job_url(finished["id"], "result/"))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(result.streaming_content))).active
    assert sheet.max_row == 202

    ledger = client.get("/api/v1/ledger/").json()["results"]
    assert [entry["kind"] for entry in ledger[:3]] == ["refund", "charge", "charge"]
    assert [entry["amount"] for entry in ledger[:3]] == [2, -402, -2]
    assert client.get("/api/v1/balance/").json()["balance"] == 1100 - 2 - 402 + 2


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "https://10.0.0.7/hook", "ftp://x"])
def test_a_webhook_must_be_a_public_https_url(api, customer, price_version, settings, url):
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = api.post(
        PREDICTIONS, {"model": "tiny-price", "input": ROW, "webhook": url}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_webhook_url"
    assert not PredictionJob.objects.exists()
    assert _balance(customer) == 100


# ----------------------------------------------------------------------------- schema


def test_the_schema_documents_every_prediction_operation_with_its_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    create = schema["paths"]["/api/v1/predictions/"]["post"]
    assert {"201", "202", "400", "401", "402", "409", "429"} <= set(create["responses"])
    assert "`insufficient_credits`" in create["responses"]["402"]["description"]
    assert {parameter["name"] for parameter in create["parameters"]} >= {
        "Idempotency-Key",
        "Prefer",
    }
    # The request examples are a real catalog model's example row.
    example = create["requestBody"]["content"]["application/json"]["examples"]["OneRow"]
    assert example["value"]["model"] == "car-price-basic"
    assert example["value"]["input"]["Make"] == "Chevrolet"
    for path, code in [
        ("/api/v1/predictions/{job_id}/cancel/", "409"),
        ("/api/v1/predictions/{job_id}/result/", "410"),
        ("/api/v1/quotes/", "400"),
    ]:
        operation = next(iter(schema["paths"][path].values()))
        assert code in operation["responses"], path
        assert "401" in operation["responses"], path
