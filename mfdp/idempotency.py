"""Idempotency-Key for API creations: a retry never creates twice.

The first request with a key inserts a row (unique per user and key: the database, not a
cache, decides which of two concurrent requests goes first); the others wait for its answer.
A successful answer is stored and replayed, status and body, to any request with the same key
and the same fingerprint (method, path, body, file contents) for IDEMPOTENCY_KEY_HOURS. The
same key with a different request is a 409. An answer that is not a success is not kept: the
key can be used again to retry once the problem (credits, input) is fixed.
"""

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.models import IdempotentRequest
from mfdp.errors import DomainError, InvalidInput

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
# How long a request waits for the first request with its key to answer, and how often it
# looks: the first is creating a job, which takes milliseconds unless it waits for the result.
FIRST_ANSWER_WAIT_SECONDS = 10.0
FIRST_ANSWER_POLL_SECONDS = (0.02, 0.05, 0.1, 0.2, 0.5)


class IdempotencyKeyReused(DomainError):
    http_status = 409

    def __init__(self) -> None:
        super().__init__(
            _("This Idempotency-Key was used with a different request."),
            code="idempotency_key_reused",
        )


class IdempotencyKeyInUse(DomainError):
    http_status = 409

    def __init__(self) -> None:
        super().__init__(
            _("A request with this Idempotency-Key is still being processed; retry shortly."),
            code="idempotency_key_in_use",
        )


def fingerprint(request) -> str:
    """A digest of what was asked: method, path, and the body's fields and file contents."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data = request.data
    if hasattr(data, "lists"):  # a multipart form: fields and files
        for name, values in sorted(data.lists()):
            for value in values:
                digest.update(f"{name}=".encode())
                if isinstance(value, UploadedFile):
                    for chunk in value.chunks():
                        digest.update(chunk)
                    value.seek(0)
                else:
                    digest.update(str(value).encode())
                digest.update(b"\n")
    else:
        digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _checked_key(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            _("The Idempotency-Key header must be 1 to %(max)s printable ASCII characters.")
            % {"max": KEY_MAX_LENGTH},
            code="invalid_idempotency_key",
        )
    return key


def _first_answer(record: IdempotentRequest) -> IdempotentRequest | None:
    """Wait for the request holding the key to answer; None if it gave the key up."""
    deadline = time.monotonic() + FIRST_ANSWER_WAIT_SECONDS
    pauses = iter(FIRST_ANSWER_POLL_SECONDS)
    while True:
        current = IdempotentRequest.objects.filter(pk=record.pk).first()
        if current is None or current.is_answered:
            return current
        pause = next(pauses, FIRST_ANSWER_POLL_SECONDS[-1])
        if time.monotonic() + pause > deadline:
            raise IdempotencyKeyInUse()
        time.sleep(pause)


def _claim(*, user, key: str, digest: str) -> IdempotentRequest:
    """The key's record: new (ours to answer) or answered (to replay)."""
    expired_before = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    while True:
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(user=user, key=key, fingerprint=digest)
        except IntegrityError:
            pass
        record = IdempotentRequest.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # the first request failed and let the key go: take it
        if record.created_at < expired_before:
            IdempotentRequest.objects.filter(pk=record.pk).delete()
            continue
        if record.fingerprint != digest:
            raise IdempotencyKeyReused()
        if not record.is_answered:
            record = _first_answer(record)
            if record is None:
                continue
            if record.fingerprint != digest:
                raise IdempotencyKeyReused()
        return record


def respond(request, create: Callable[[str], Response]) -> Response:
    """Answer a creation once per Idempotency-Key. `create` gets the key's unique name to
    store on what it creates ("" without the header) and returns the response."""
    raw = request.headers.get(KEY_HEADER)
    if raw is None:
        return create("")
    key = _checked_key(raw)
    record = _claim(user=request.user, key=key, digest=fingerprint(request))
    if record.is_answered:
        return Response(
            record.response, status=record.status_code, headers={REPLAYED_HEADER: "true"}
        )
    try:
        response = create(f"api:{record.pk}")
    except BaseException:
        IdempotentRequest.objects.filter(pk=record.pk).delete()
        raise
    if 200 <= response.status_code < 300:
        record.status_code = response.status_code
        record.response = json.loads(JSONRenderer().render(response.data))
        record.save(update_fields=["status_code", "response"])
    else:
        IdempotentRequest.objects.filter(pk=record.pk).delete()
    return response


def forget_expired(*, now=None) -> int:
    """Delete records past IDEMPOTENCY_KEY_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _counts = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
