"""django-storages' S3 backend, configured as production talks to MinIO, against moto's S3
server over HTTP."""

import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

# No proxy from the environment between the test and the local moto server.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def read_object(s3_bucket, key: str) -> bytes:
    """The object's bytes as a plain S3 client sees them, bypassing the storage."""
    return s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()


def test_file_written_and_read_back(s3_storage, s3_bucket):
    payload = "credits,rows\n10,200\n\u043f\u0440\u0438\u0431\u044b\u043b\u044c\n".encode()

    name = s3_storage.save("uploads/report.csv", ContentFile(payload))

    assert s3_storage.exists(name)
    assert s3_storage.size(name) == len(payload)
    with s3_storage.open(name, "rb") as fh:
        assert fh.read() == payload
    assert read_object(s3_bucket, name) == payload


def test_saving_twice_under_one_name_keeps_both_files(s3_storage, s3_bucket):
    first = s3_storage.save("uploads/data.xlsx", ContentFile(b"first"))
    second = s3_storage.save("uploads/data.xlsx", ContentFile(b"second"))

    assert first == "uploads/data.xlsx"
    assert second != first
    assert second.startswith("uploads/data")
    assert second.endswith(".xlsx")
    assert read_object(s3_bucket, first) == b"first"
    assert read_object(s3_bucket, second) == b"second"
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    assert sorted(obj["Key"] for obj in listed) == sorted([first, second])


def test_url_is_a_short_lived_sigv4_link_that_serves_the_file(s3_storage, s3_bucket):
    payload = b"prediction results"
    name = s3_storage.save("results/out.csv", ContentFile(payload))

    url = s3_storage.url(name)

    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    # Path-style, on the configured endpoint.
    assert f"{parts.scheme}://{parts.netloc}" == s3_bucket.endpoint_url
    assert parts.path == f"/{s3_bucket.name}/{name}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Signature"]
    assert 0 < int(query["X-Amz-Expires"]) <= 300
    assert int(query["X-Amz-Expires"]) == settings.S3_OPTIONS["querystring_expire"]
    with http.open(url, timeout=10) as response:
        assert response.status == 200
        assert response.read() == payload


def test_objects_are_private(s3_storage, s3_bucket):
    name = s3_storage.save("uploads/private.csv", ContentFile(b"secret rows"))
    signed = urlsplit(s3_storage.url(name))
    unsigned = signed._replace(query="").geturl()

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        http.open(unsigned, timeout=10)

    excinfo.value.close()
    assert excinfo.value.code == 403
    # The same object answers when the request is signed: the 403 is about the signature.
    with http.open(signed.geturl(), timeout=10) as response:
        assert response.read() == b"secret rows"
