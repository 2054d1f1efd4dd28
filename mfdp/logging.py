"""One-line JSON logs with the request id and job id, and secrets scrubbed out.

Wired by LOGGING in mfdp/settings.py, so the web process, the Celery worker and the django-q2
cluster log alike. Plain standard library, no Django: a record is tagged from two context
variables, set by mfdp.middleware.RequestIdMiddleware (request_id) and by the Celery task that
runs a job (job_id, via ``bound_job_id``).
"""

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

REDACTED = "[redacted]"

# Each pattern keeps its first group (the name of the secret) and loses the rest.
_SECRETS = [
    # A URL signed for S3 (SigV4 or SigV2) loses its whole query string.
    re.compile(
        r"(\bhttps?://[^\s?\"'<>]+\?)[^\s\"'<>]*?"
        r"(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)="
        r"[^\s\"'<>]*",
        re.IGNORECASE,
    ),
    # The same parameters met outside a whole URL.
    re.compile(
        r"((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=)"
        r"[^&\s\"'<>]+",
        re.IGNORECASE,
    ),
    # Authorization: Bearer ..., 'HTTP_AUTHORIZATION': '...', authorization=...
    re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,;}&]+", re.IGNORECASE),
    re.compile(r"(\bbearer\s+)(?!\[redacted\])[A-Za-z0-9_\-.~+/=]{8,}", re.IGNORECASE),
    # password=..., "password": "...", 'new_password1': '...', password1=...&
    re.compile(
        r"(password\w*[\"']?\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s&,;}]+)",
        re.IGNORECASE,
    ),
    # Our API tokens (accounts.models.TOKEN_PREFIX) and webhook secrets, wherever they appear.
    re.compile(r"()mfdp_[A-Za-z0-9_-]{16,}"),
    re.compile(r"()whsec_[A-Za-z0-9_-]{8,}"),
]


def redact(text: str) -> str:
    """The text with every secret we know the shape of replaced by [redacted]."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Renders the message and the traceback once, scrubbed, so that no formatter after it can
    print a secret from the arguments. Never drops a record and never raises."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!s} (arguments could not be formatted)"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class AddContext(logging.Filter):
    """Tags each record with the current request id and job id (None outside of them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: json.dumps escapes the newlines of a message or a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
        }
        if getattr(record, "job_id", None) is not None:
            entry["job_id"] = record.job_id
        entry["message"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


@contextlib.contextmanager
def bound_job_id(value: object) -> Iterator[None]:
    """Tags every record logged inside the block with this job id."""
    token = job_id.set(str(value))
    try:
        yield
    finally:
        job_id.reset(token)
