from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from predictions.models import PredictionJob

from .models import EventType, WebhookEvent

# After a job ends its event appears once the job's transaction has committed; the job page
# keeps asking for a little while in case it looked in between.
EVENT_GRACE = timedelta(seconds=30)


def job_deliveries(*, job: PredictionJob) -> dict:
    """The job's webhook events with their attempts, and whether the page should keep
    refreshing them (the job still runs, an event is pending, or its event is due soon)."""
    events = list(
        WebhookEvent.objects.filter(job=job).prefetch_related("attempt_log").order_by("created_at")
    )
    waiting = bool(job.webhook_url) and (
        not job.is_finished
        or any(event.is_pending for event in events)
        or (not events and job.finished_at and timezone.now() - job.finished_at < EVENT_GRACE)
    )
    return {"job": job, "webhook_events": events, "webhooks_waiting": waiting}


def last_test_url(*, user: User) -> str:
    """The URL of the user's latest test event, to fill the form in again."""
    event = WebhookEvent.objects.filter(owner=user, type=EventType.TEST).only("url").first()
    return event.url if event else ""
