"""/healthz and /readyz against the real database, broker and storage."""

import pytest
from django.core.files.storage import default_storage

from mfdp.celery import app as celery_app

CHECKS = {"database", "broker", "storage"}


@pytest.fixture
def unreachable_broker(monkeypatch, closed_port):
    """Points the Celery app at a broker on a local port that refuses connections; the
    original broker comes back after the test. Celery reads CELERY_BROKER_URL from the
    environment before its configuration, so both are changed."""
    url = f"redis://127.0.0.1:{closed_port}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", None)
    assert celery_app.conf.broker_write_url == url
    return url


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_every_check_ok(client, celery_broker):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    assert {name: check["status"] for name, check in body["checks"].items()} == dict.fromkeys(
        CHECKS, "ok"
    )
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_is_unreachable(client, unreachable_broker):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    # The public answer names the kind of failure, never where the broker lives.
    assert unreachable_broker not in response.content.decode()


@pytest.mark.django_db
def test_broker_comes_back_after_the_unreachable_broker_test(client, celery_broker):
    # Guards the fixture above: the app's broker is the configured one again.
    assert celery_app.conf.broker_write_url == celery_broker
    assert client.get("/readyz").json()["checks"]["broker"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_checks_s3_storage(client, celery_broker, s3_default_storage, s3_bucket):
    from storages.backends.s3 import S3Storage

    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json()["checks"]["storage"]["status"] == "ok"
    assert isinstance(default_storage._wrapped, S3Storage)
    assert default_storage.bucket_name == s3_bucket.name


@pytest.mark.django_db
def test_readyz_names_storage_when_s3_is_unreachable(
    client, celery_broker, settings, s3_options, closed_port
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**s3_options, "endpoint_url": f"http://127.0.0.1:{closed_port}"},
        },
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["storage"]["status"] == "error"
    assert checks["database"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_probes_answer_only_get(client, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_readyz_names_storage_when_the_bucket_is_missing(
    client, celery_broker, settings, s3_options
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**s3_options, "bucket_name": "mfdp-no-such-bucket"},
        },
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["status"] == "error"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.django_db
def test_probes_answer_head_for_load_balancers(client, path):
    assert client.head(path).status_code == 200
