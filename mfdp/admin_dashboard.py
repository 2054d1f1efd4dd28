"""Today's figures at the top of the admin index: read here, in one place; the template
templates/admin/index.html only renders them.

There is no registry of workers: the freshest sign of one is the newest heartbeat a job
received, so that is what the index shows, under that name.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, Sum
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import EntryKind, LedgerEntry
from predictions.models import JobStatus, PredictionJob
from webhooks.models import WebhookEvent

from .worker_status import worker_status

RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class TodaysFigures:
    day: date  # the local day (settings.TIME_ZONE) the daily figures are for
    jobs_by_status: list[StatusCount]  # jobs created that day, by their status now
    jobs_total: int
    credits_charged: int  # charges written that day, as a positive number
    credits_refunded: int  # refunds written that day
    failed_last_24h: int  # jobs that ended as failed in the last 24 hours
    jobs_running: int
    last_job_heartbeat: datetime | None  # newest heartbeat of any job: no worker registry
    webhooks_pending: int
    webhooks_given_up_last_24h: int


def todays_figures(*, now: datetime | None = None) -> TodaysFigures:
    """Four aggregate queries, none of them per row."""
    now = now or timezone.now()
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    since = now - RECENT

    by_status = dict(
        PredictionJob.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
    )
    money = LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        charged=Sum("amount", filter=Q(kind=EntryKind.CHARGE)),
        refunded=Sum("amount", filter=Q(kind=EntryKind.REFUND)),
    )
    jobs = PredictionJob.objects.aggregate(
        last_heartbeat=Max("heartbeat_at"),
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        # A failed job normally has finished_at; one without it counts by when it was made.
        failed=Count(
            "pk",
            filter=Q(status=JobStatus.FAILED)
            & (Q(finished_at__gte=since) | Q(finished_at__isnull=True, created_at__gte=since)),
        ),
    )
    webhooks = WebhookEvent.objects.aggregate(
        pending=Count("pk", filter=Q(delivered_at__isnull=True, given_up_at__isnull=True)),
        given_up=Count("pk", filter=Q(given_up_at__gte=since)),
    )
    return TodaysFigures(
        day=start.date(),
        jobs_by_status=[
            StatusCount(status=status, label=str(label), count=by_status.get(status, 0))
            for status, label in JobStatus.choices
        ],
        jobs_total=sum(by_status.values()),
        credits_charged=-(money["charged"] or 0),
        credits_refunded=money["refunded"] or 0,
        failed_last_24h=jobs["failed"],
        jobs_running=jobs["running"],
        last_job_heartbeat=jobs["last_heartbeat"],
        webhooks_pending=webhooks["pending"],
        webhooks_given_up_last_24h=webhooks["given_up"],
    )


class MfdpAdminSite(AdminSite):
    """The back office: Django's admin whose index opens with today's figures, plus the
    Workers page (mfdp/worker_status.py)."""

    def get_urls(self):
        workers = path("workers/", self.admin_view(self.workers_view), name="worker_status")
        return [workers, *super().get_urls()]

    def workers_view(self, request):
        if not request.user.has_perm("predictions.view_predictionjob"):
            raise PermissionDenied
        context = {
            **self.each_context(request),
            "title": _("Workers and queues"),
            "status": worker_status(),
        }
        return TemplateResponse(request, "admin/worker_status.html", context)

    def index(self, request, extra_context=None):
        context = dict(extra_context or {})
        if request.user.has_perm("predictions.view_predictionjob"):
            context["todays_figures"] = todays_figures()
        return super().index(request, extra_context=context)
