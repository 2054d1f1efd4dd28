import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    JOB_SUCCEEDED = "job.succeeded", _("job succeeded")
    JOB_FAILED = "job.failed", _("job failed")
    JOB_CANCELED = "job.canceled", _("job canceled")
    TEST = "test", _("test")


class WebhookEvent(models.Model):
    """One event for one URL. Its id is the event id the receiver sees (MFDP-Event-Id) and
    stays the same on every attempt, so receivers can drop a repeat."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="webhook_events",
        verbose_name=_("owner"),
    )
    type = models.CharField(_("type"), max_length=20, choices=EventType.choices)
    url = models.URLField(_("URL"), max_length=500)
    payload = models.JSONField(_("payload"))
    job = models.ForeignKey(
        "predictions.PredictionJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_events",
        verbose_name=_("job"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    given_up_at = models.DateTimeField(_("given up"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="webhooks_event_owner_idx")]
        constraints = [
            # A job ends once, so it has one event; a second call finds the first.
            models.UniqueConstraint(
                fields=["job"], condition=Q(job__isnull=False), name="webhooks_event_one_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def is_pending(self) -> bool:
        return self.delivered_at is None and self.given_up_at is None


class WebhookAttempt(models.Model):
    """One POST of an event: what the receiver answered, or why there was no answer."""

    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("event")
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    response_excerpt = models.CharField(_("response (start)"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["event", "number"]
        constraints = [
            models.UniqueConstraint(fields=["event", "number"], name="webhooks_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.number}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
