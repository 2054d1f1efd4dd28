"""Logs: one JSON line a record, with the request id and the job id, and no secret ever.

Records are captured by a handler on the root logger with the filters and the formatter of the
configured console handler, so the tests read exactly what the web process, the worker and the
cluster print."""

import io
import json
import logging
import runpy
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import User
from mfdp.logging import redact
from predictions.tasks import run_prediction_job
from tests.factories import UserFactory, issue_token

ME = "/api/v1/me/"
ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger("tests.mfdp.logging")


class CapturedLogs:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def logs():
    root = logging.getLogger()
    console = next(handler for handler in root.handlers if handler.get_name() == "console")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield CapturedLogs(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# ----------------------------------------------------------------------------- through the doors


@pytest.mark.django_db
def test_api_token_never_reaches_the_logs_whether_it_fails_or_succeeds(api_client, logs):
    key = issue_token(UserFactory())
    unknown = "mfdp_" + "Z" * 43

    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {unknown}").status_code == 401
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    logger.warning("headers seen: %s", {"HTTP_AUTHORIZATION": f"Bearer {key}"})

    assert any(entry["message"] == f"Unauthorized: {ME}" for entry in logs.entries)
    assert key not in logs.text
    assert unknown not in logs.text
    assert key[5:] not in logs.text


@pytest.mark.django_db
def test_login_with_a_wrong_password_never_logs_the_password(client, logs):
    user = UserFactory()
    wrong = "Wrong-horse-battery-staple-9"

    response = client.post(reverse("accounts:login"), {"username": user.email, "password": wrong})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    logger.warning("login form posted: %r", response.wsgi_request.POST)

    assert "[redacted]" in logs.text
    assert wrong not in logs.text


@pytest.mark.django_db
def test_webhook_secret_rotation_never_logs_either_secret(client, logs):
    user = UserFactory()
    old_secret = user.webhook_secret
    client.force_login(user)

    response = client.post(reverse("accounts:webhook_secret_rotate"), follow=True)
    new_secret = User.objects.get(pk=user.pk).webhook_secret
    assert response.redirect_chain[0][1] == 302
    assert new_secret != old_secret
    assert new_secret.encode() in response.content  # shown to its owner, never logged
    logger.info("rotated %s into %s", old_secret, new_secret)

    assert old_secret not in logs.text
    assert new_secret not in logs.text
    assert new_secret[6:] not in logs.text


def test_a_signed_s3_url_loses_its_query_string(s3_storage, logs):
    url = s3_storage.url("jobs/result.csv")
    assert "X-Amz-Signature=" in url  # a real signed URL, as customers receive
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]

    logger.info("result ready at %s", url)

    (entry,) = logs.entries
    assert entry["message"] == f"result ready at {url.split('?')[0]}?[redacted]"
    assert signature not in logs.text
    assert "X-Amz-Credential" not in logs.text


@pytest.mark.django_db
def test_x_request_id_is_echoed_and_tags_the_requests_log_records(client, logs):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="abc-123")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "abc-123"
    (entry,) = [e for e in logs.entries if e["message"] == "Not Found: /no-such-page/"]
    assert entry["request_id"] == "abc-123"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "django.request"

    logger.info("after the request")
    assert logs.entries[-1]["request_id"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "has space", "x" * 65, "semi;colon", "ünïcode"])
def test_an_insane_x_request_id_is_replaced_by_a_new_one(client, logs, incoming):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)

    generated = response["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32
    int(generated, 16)
    assert [e["request_id"] for e in logs.entries] == [generated]


@pytest.mark.django_db
def test_each_request_gets_its_own_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


@pytest.mark.django_db
def test_a_log_line_inside_a_job_run_carries_the_job_id(logs):
    job_id = str(uuid.uuid4())

    assert run_prediction_job.apply(args=[job_id]).get() is None
    logger.info("after the job")

    (inside,) = [e for e in logs.entries if e["logger"] == "predictions.services.jobs"]
    assert inside["message"] == f"job {job_id} is not queued; nothing to do"
    assert inside["job_id"] == job_id
    assert "job_id" not in logs.entries[-1]


# ----------------------------------------------------------------------------- the format


def test_a_record_with_newlines_and_a_traceback_is_one_json_line(logs):
    try:
        raise ValueError("first line\nsecond line password=hunter2-secret")
    except ValueError:
        logger.exception("it broke\nbadly for mfdp_%s", "A" * 43)

    assert logs.text.count("\n") == 1
    (entry,) = logs.entries
    assert set(entry) == {"time", "level", "logger", "request_id", "message", "exc_info"}
    assert entry["level"] == "ERROR"
    assert entry["message"] == "it broke\nbadly for [redacted]"
    assert "ValueError: first line\nsecond line password=[redacted]" in entry["exc_info"]
    assert "hunter2" not in logs.text


def test_an_entry_names_time_level_logger_request_id_and_message(logs):
    logger.info("plain %s", "words")

    (entry,) = logs.entries
    assert entry["time"].endswith("+00:00")
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "INFO",
        "tests.mfdp.logging",
        "plain words",
    )
    assert entry["request_id"] is None


def test_unformattable_arguments_neither_raise_nor_lose_the_record(logs):
    logger.info("two %s %s", "but one")

    (entry,) = logs.entries
    assert entry["message"].startswith("two %s %s")


# ----------------------------------------------------------------------------- redaction

TOKEN = "mfdp_q3Xv-8kLr_2mNbZc7Wd4Yh1Tf6Gs0Jp5Ea9Ru3Io2Uy"
WHSEC = "whsec_Kd83jf-_92kfLs0dkeLmZ2"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"token {TOKEN} created", "token [redacted] created"),
        (f"secret is {WHSEC}.", "secret is [redacted]."),
        ("Authorization: Bearer abc.def.ghi", "Authorization: [redacted]"),
        ("{'HTTP_AUTHORIZATION': 'Token xyz'}", "{'HTTP_AUTHORIZATION': '[redacted]'}"),
        ("sent with bearer abcdefghijkl", "sent with bearer [redacted]"),
        ("username=a&password=s3cret&next=/", "username=a&password=[redacted]&next=/"),
        ('{"password": "s3 cret", "x": 1}', '{"password": [redacted], "x": 1}'),
        ("{'new_password1': ['s3cret']}", "{'new_password1': [redacted]}"),
        (
            "https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIA%2F20261128&X-Amz-Signature=abc123 done",
            "https://b.s3.amazonaws.com/k.csv?[redacted] done",
        ),
        (
            "get http://minio:9000/b/k?AWSAccessKeyId=AKIA&Expires=1&Signature=a%2Bb",
            "get http://minio:9000/b/k?[redacted]",
        ),
        ("query X-Amz-Signature=abc&X-Amz-Date=1", "query X-Amz-Signature=[redacted]&X-Amz-Date=1"),
        ("Not Found: /api/v1/jobs/42/", "Not Found: /api/v1/jobs/42/"),
        ("the token is unknown or has been revoked", "the token is unknown or has been revoked"),
    ],
)
def test_redact_replaces_each_kind_of_secret(message, expected):
    assert redact(message) == expected


def test_secrets_in_arguments_are_scrubbed_from_the_line(logs):
    logger.warning("call %s with %r", f"https://x/y?Signature={'s' * 20}", {"token": TOKEN})

    assert TOKEN not in logs.text
    assert "s" * 20 not in logs.text


# ----------------------------------------------------------------------------- gunicorn


def test_gunicorn_access_log_has_the_request_id_and_no_query_string():
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    access_format = config["access_log_format"]
    assert "%({x-request-id}o)s" in access_format
    assert "%(U)s" in access_format
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%({referer}i)s"):
        assert leaky not in access_format
    assert "\n" not in access_format
