"""A real django-q2 cluster (`manage.py qcluster`, a separate process on the test database)
takes a finished job's event from the ORM broker and delivers it to a local receiver."""

import time

import pytest

from webhooks import services
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERY_TIMEOUT = 60  # seconds; a bound, not an expectation (about 3 s here)


def test_a_qcluster_delivers_a_finished_jobs_event(qcluster, make_job, receiver, verify):
    job = make_job(webhook_url=receiver.url)

    event = services.job_finished(job)

    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        event.refresh_from_db()
        if not event.is_pending:
            break
        time.sleep(0.1)
    log = qcluster.read_text(errors="replace")[-5000:]
    assert event.delivered_at is not None, f"not delivered; the cluster's log:\n{log}"
    (received,) = receiver.requests
    assert received.headers["MFDP-Event-Id"] == str(event.pk)
    assert verify(job.owner.webhook_secret, received.headers, received.body)
    assert WebhookEvent.objects.get().attempt_log.get().status_code == 200
