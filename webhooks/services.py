"""Webhooks: which URLs are accepted, the event of a finished job, and its delivery.

Delivery is at least once. Each attempt is one signed POST made by a django-q2 task; a
failed attempt schedules the next one (a django-q2 Schedule run once at `next_attempt_at`)
with exponential backoff, until RETRY_WINDOW after the event was created. An attempt is
claimed under the event's row lock, so a task run twice never sends an event again once it
is delivered, and never while another attempt is under way.
"""

import ipaddress
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.models import Schedule
from django_q.tasks import async_task
from rest_framework.renderers import JSONRenderer

from accounts.models import User
from mfdp.errors import InvalidInput
from predictions.models import JobStatus, PredictionJob
from predictions.serializers import PredictionJobSerializer

from . import sending
from .models import EventType, WebhookAttempt, WebhookEvent

URL_MAX_LENGTH = 500
RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY_DELAY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=1)
# An attempt under way holds its event this long. A worker killed mid-attempt leaves the
# hold behind; django-q2 hands the task out again after Q_CLUSTER["retry"] (360 s, longer
# than this), and the event is then due again.
ATTEMPT_HOLD = timedelta(minutes=5)
# A task may run this much before its event's time (clocks of two hosts never agree exactly).
DUE_TOLERANCE = timedelta(seconds=5)
# An event still pending this long after its attempt was due has lost its task (a task that
# raised, a schedule deleted in the admin, a worker lost past django-q2's own redelivery):
# longer than ATTEMPT_HOLD plus Q_CLUSTER["retry"], so a task django-q2 will hand out again
# by itself is not doubled (a double would be harmless: attempts are claimed).
REDELIVERY_MARGIN = timedelta(minutes=10)
DELIVER_TASK = "webhooks.tasks.deliver"
EVENT_KEYS = ("id", "type", "created_at", "data")
JOB_EVENT_TYPES = {
    JobStatus.SUCCEEDED: EventType.JOB_SUCCEEDED,
    JobStatus.FAILED: EventType.JOB_FAILED,
    JobStatus.CANCELED: EventType.JOB_CANCELED,
}
TEST_EVENT_MESSAGE = "A test event sent from the MFDP API tokens page."
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")


def private_addresses_allowed() -> bool:
    """http:// and non-public hosts are accepted in DEBUG or with WEBHOOK_ALLOW_PRIVATE."""
    return bool(settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_webhook_url")


def clean_webhook_url(url: str) -> str:
    """The URL in normal form (lower-case scheme and host, IDNA host, default port and
    fragment dropped, path percent-encoded), or InvalidInput(code="invalid_webhook_url").

    Rules: http(s), at most URL_MAX_LENGTH characters, no user name or password. Unless
    private addresses are allowed (DEBUG, WEBHOOK_ALLOW_PRIVATE): https only, and the host
    must resolve, only to public addresses. Delivery checks the addresses again."""
    url = (url or "").strip()
    if not url:
        raise _invalid(_("Enter the webhook URL."))
    if len(url) > URL_MAX_LENGTH:
        raise _invalid(
            _("The webhook URL is longer than %(limit)d characters.") % {"limit": URL_MAX_LENGTH}
        )
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise _invalid(_("The webhook URL contains spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _invalid(_("The webhook URL is not a valid URL.")) from error
    scheme = parts.scheme.lower()
    allow_private = private_addresses_allowed()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise _invalid(
            _("The webhook URL must start with http:// or https://.")
            if allow_private
            else _("The webhook URL must start with https://.")
        )
    if "@" in parts.netloc:
        raise _invalid(_("The webhook URL must not contain a user name or password."))
    host = _clean_host(parts.hostname or "")
    if port == 0:
        raise _invalid(_("The webhook URL is not a valid URL."))
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc += f":{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    cleaned = urlunsplit((scheme, netloc, path, query, ""))
    if len(cleaned) > URL_MAX_LENGTH:
        raise _invalid(
            _("The webhook URL is longer than %(limit)d characters.") % {"limit": URL_MAX_LENGTH}
        )
    if not allow_private:
        try:
            sending.resolve(host, port or 443, allow_private=False)
        except sending.HostUnresolved as error:
            raise _invalid(_("The host of the webhook URL does not resolve.")) from error
        except sending.AddressRefused as error:
            raise _invalid(
                _(
                    "The webhook URL must point at a public address, not a loopback, "
                    "private or reserved one."
                )
            ) from error
    return cleaned


def _clean_host(host: str) -> str:
    """A lower-case ASCII host name or IP address, or InvalidInput."""
    if not host:
        raise _invalid(_("The webhook URL is not a valid URL."))
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise _invalid(_("The webhook URL is not a valid URL.")) from error
    if not HOST_NAME.fullmatch(host):
        raise _invalid(_("The webhook URL is not a valid URL."))
    return host


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_payload(job: PredictionJob) -> dict[str, Any]:
    """The job as the API shows it: what an event's data.job carries."""
    return json.loads(JSONRenderer().render(PredictionJobSerializer(job).data))


def _create_event(
    *, owner: User, event_type: str, url: str, data: dict, job: PredictionJob | None = None
) -> WebhookEvent:
    event = WebhookEvent(owner=owner, type=event_type, url=url, job=job)
    event.next_attempt_at = event.created_at
    event.payload = {
        "id": str(event.id),
        "type": event_type,
        "created_at": _iso(event.created_at),
        "data": data,
    }
    event.save(force_insert=True)
    return event


def _enqueue_delivery(event: WebhookEvent) -> None:
    # Called inside the transaction that makes the event due: with django-q2's ORM broker
    # the task is a row of the same database, so it exists if and only if the change commits.
    async_task(DELIVER_TASK, str(event.id), group="webhooks")


def job_finished(job: PredictionJob) -> WebhookEvent | None:
    """Create the event of a finished job that has a webhook URL (job.succeeded, job.failed
    or job.canceled) and enqueue its first delivery. Idempotent: a job has one event, and a
    second call returns it. Returns None for a job without a URL or not finished."""
    if not job.webhook_url or job.status not in JOB_EVENT_TYPES:
        return None
    existing = WebhookEvent.objects.filter(job=job).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            event = _create_event(
                owner=job.owner,
                event_type=JOB_EVENT_TYPES[job.status],
                url=job.webhook_url,
                data={"job": job_payload(job)},
                job=job,
            )
            _enqueue_delivery(event)
    except IntegrityError:
        # Another call created it first (the unique job constraint).
        return WebhookEvent.objects.get(job=job)
    return event


def send_test_event(*, user: User, url: str) -> WebhookEvent:
    """Check `url`, create a `test` event for it and make its first and only attempt now,
    through the same delivery as job events; the event comes back with that attempt
    recorded. Test events are not retried: the customer sees the answer and can send
    another. Raises InvalidInput(code="invalid_webhook_url") for a URL that is refused."""
    url = clean_webhook_url(url)
    event = _create_event(
        owner=user, event_type=EventType.TEST, url=url, data={"message": TEST_EVENT_MESSAGE}
    )
    deliver_event(event_id=event.pk)
    event.refresh_from_db()
    return event


def retry_delay(attempt_number: int) -> timedelta:
    """The wait after failed attempt `attempt_number` (1, 2, ...): 30 s, 1 min, 2 min, 4 min,
    ... doubling, never more than an hour."""
    doublings = min(max(attempt_number - 1, 0), 16)
    return min(FIRST_RETRY_DELAY * 2**doublings, MAX_RETRY_DELAY)


def next_attempt_time(event: WebhookEvent, *, failed_attempt: int, now: datetime):
    """When to try again after a failed attempt, or None to give up: test events get one
    attempt; others retry while the next attempt falls within RETRY_WINDOW of creation."""
    if event.type == EventType.TEST:
        return None
    at = now + retry_delay(failed_attempt)
    if at > event.created_at + RETRY_WINDOW:
        return None
    return at


def event_body(event: WebhookEvent) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, ASCII only."""
    payload = event.payload
    return json.dumps({key: payload[key] for key in EVENT_KEYS}, separators=(",", ":")).encode()


def _claim_attempt(event_id) -> WebhookAttempt | None:
    """Start attempt n+1 of a due event under its row lock, or None when there is nothing
    to do (unknown, delivered, given up, not due yet, or an attempt under way)."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or not event.is_pending:
            return None
        now = timezone.now()
        if event.next_attempt_at is not None and event.next_attempt_at > now + DUE_TOLERANCE:
            return None
        event.attempts += 1
        event.next_attempt_at = now + ATTEMPT_HOLD
        event.save(update_fields=["attempts", "next_attempt_at"])
        return WebhookAttempt.objects.create(event=event, number=event.attempts, started_at=now)


def _record(attempt: WebhookAttempt, outcome: sending.Outcome) -> WebhookAttempt:
    """Write what the attempt came to; then the event is delivered, scheduled again or
    given up, in the same transaction as the schedule."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=attempt.event_id)
        attempt.status_code = outcome.status_code
        attempt.duration_ms = outcome.duration_ms
        attempt.error = outcome.error
        attempt.response_excerpt = outcome.response_excerpt
        attempt.save(update_fields=["status_code", "duration_ms", "error", "response_excerpt"])
        if not event.is_pending:
            return attempt  # a resend delivered it meanwhile
        now = timezone.now()
        if outcome.succeeded:
            event.delivered_at = now
            event.next_attempt_at = None
        else:
            at = next_attempt_time(event, failed_attempt=attempt.number, now=now)
            if at is None:
                event.given_up_at = now
                event.next_attempt_at = None
            else:
                event.next_attempt_at = at
                Schedule.objects.create(
                    name=f"webhook {event.pk} #{attempt.number + 1}",
                    func=DELIVER_TASK,
                    args=repr((str(event.pk),)),
                    schedule_type=Schedule.ONCE,
                    repeats=-1,  # a ONCE schedule with negative repeats is deleted once run
                    next_run=at,
                )
        event.save(update_fields=["delivered_at", "given_up_at", "next_attempt_at"])
    attempt.event = event
    return attempt


def deliver_event(*, event_id) -> WebhookAttempt | None:
    """Make one attempt to deliver a due event: POST it signed with the owner's current
    webhook secret, record the attempt (status, duration, error, start of the answer), and
    mark the event delivered (2xx), schedule its next attempt, or give up.

    Safe to call any number of times: an event delivered, given up, not yet due or being
    attempted elsewhere is left alone and None is returned."""
    attempt = _claim_attempt(event_id)
    if attempt is None:
        return None
    event = attempt.event
    body = event_body(event)
    timestamp = int(time.time())
    secret = User.objects.values_list("webhook_secret", flat=True).get(pk=event.owner_id)
    headers = {
        "MFDP-Event-Id": str(event.pk),
        "MFDP-Timestamp": str(timestamp),
        "MFDP-Signature": sending.signature(secret=secret, timestamp=timestamp, body=body),
    }
    outcome = sending.post(
        url=event.url, body=body, headers=headers, allow_private=private_addresses_allowed()
    )
    return _record(attempt, outcome)


def resend(*, event: WebhookEvent) -> WebhookEvent:
    """Deliver an event again (staff, from the admin): it becomes pending and due now, and
    a delivery is enqueued. Failures are retried only within the event's RETRY_WINDOW."""
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
        locked.delivered_at = None
        locked.given_up_at = None
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["delivered_at", "given_up_at", "next_attempt_at"])
        _enqueue_delivery(locked)
    return locked


def redeliver_overdue_events(*, now: datetime | None = None) -> dict[str, int]:
    """Unstick what lost its delivery task; the housekeeping schedule calls this.

    - A pending event whose attempt is overdue by REDELIVERY_MARGIN gets a delivery enqueued
      (claimed like any other, so it is never sent twice), or is given up when its
      RETRY_WINDOW is over or it is a test event (those get one attempt).
    - A job that finished with a webhook URL but has no event (the process ended between
      the job's commit and the event's creation) gets its event, within RETRY_WINDOW.

    Safe to run any number of times, on any number of hosts. Returns the counts:
    {"enqueued": ..., "given_up": ..., "created": ...}."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "given_up": 0, "created": 0}
    overdue = WebhookEvent.objects.filter(
        delivered_at__isnull=True,
        given_up_at__isnull=True,
        next_attempt_at__lt=now - REDELIVERY_MARGIN,
    )
    for event in overdue.only("id", "type", "created_at", "next_attempt_at"):
        if event.type == EventType.TEST or event.created_at + RETRY_WINDOW < now:
            # Conditional: an attempt that started meanwhile moved next_attempt_at.
            counts["given_up"] += WebhookEvent.objects.filter(
                pk=event.pk,
                delivered_at__isnull=True,
                given_up_at__isnull=True,
                next_attempt_at=event.next_attempt_at,
            ).update(given_up_at=now, next_attempt_at=None)
        else:
            _enqueue_delivery(event)
            counts["enqueued"] += 1
    eventless = (
        PredictionJob.objects.filter(
            status__in=list(JOB_EVENT_TYPES),
            finished_at__lt=now - REDELIVERY_MARGIN,
            finished_at__gt=now - RETRY_WINDOW,
            webhook_events__isnull=True,
        )
        .exclude(webhook_url="")
        .select_related("owner", "version__model")
    )
    for job in eventless:
        job_finished(job)
        counts["created"] += 1
    return counts
