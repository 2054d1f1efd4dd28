"""What the compute and housekeeping planes are doing now, for staff: the Celery workers
that answer a broadcast, the depth of the job queue, and the django-q2 cluster's queue,
last finished task and failures. Read on demand by the admin's Workers page."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, Task
from django_q.status import Stat

from mfdp.celery import app as celery_app
from predictions.models import JobStatus, PredictionJob

# How long the broadcast to all workers waits for their replies.
INSPECT_TIMEOUT_SECONDS = 0.75
BROKER_TIMEOUT_SECONDS = 3
RECENT = timedelta(hours=24)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CeleryWorker:
    name: str
    pid: int | None
    concurrency: int | None
    active_jobs: int
    tasks_done: int  # since the worker started
    uptime: timedelta | None
    queues: list[str]


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int | None  # None: the broker did not answer


@dataclass(frozen=True)
class HousekeepingCluster:
    host: str
    status: str
    processes: int
    uptime: timedelta


@dataclass(frozen=True)
class WorkerStatus:
    checked_at: datetime
    workers: list[CeleryWorker] | None  # None: the broker did not answer the broadcast
    broker_error: str
    job_queue: QueueDepth
    jobs_queued: int
    jobs_running: int
    last_job_heartbeat: datetime | None
    clusters: list[HousekeepingCluster]  # empty also when the cache is not shared (locmem)
    housekeeping_waiting: int
    last_housekeeping_task_at: datetime | None
    housekeeping_failures_24h: int


def celery_workers() -> list[CeleryWorker]:
    """One broadcast waits the full timeout (no one knows how many workers exist); the
    follow-up questions go only to the workers that answered and return with the last reply."""
    stats = celery_app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).stats() or {}
    if not stats:
        return []
    answered = celery_app.control.inspect(
        destination=list(stats), limit=len(stats), timeout=INSPECT_TIMEOUT_SECONDS
    )
    active = answered.active() or {}
    queues = answered.active_queues() or {}
    return [
        CeleryWorker(
            name=name,
            pid=info.get("pid"),
            concurrency=info.get("pool", {}).get("max-concurrency"),
            active_jobs=len(active.get(name) or []),
            tasks_done=sum((info.get("total") or {}).values()),
            uptime=timedelta(seconds=info["uptime"]) if "uptime" in info else None,
            queues=sorted(queue["name"] for queue in queues.get(name) or []),
        )
        for name, info in sorted(stats.items())
    ]


def queue_depth(name: str) -> QueueDepth:
    """Messages waiting (not yet taken by a worker) in a Celery queue. Declaring the queue
    is what every worker does at start, and is how kombu reports its size on any broker."""
    with celery_app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        declared = conn.default_channel.queue_declare(queue=name, durable=True, auto_delete=False)
    return QueueDepth(name=name, waiting=declared.message_count)


def housekeeping_clusters() -> list[HousekeepingCluster]:
    """django-q2 clusters report themselves through the cache: seen here only when the
    cache is shared between processes (CACHE_URL=redis://...)."""
    return [
        HousekeepingCluster(
            host=stat.host,
            status=str(stat.status),
            processes=len(stat.workers),
            uptime=timedelta(seconds=stat.uptime()),
        )
        for stat in Stat.get_all()
    ]


def worker_status(*, now: datetime | None = None) -> WorkerStatus:
    now = now or timezone.now()
    queue_name = celery_app.conf.task_default_queue
    try:
        # The queue first: its connection fails fast when the broker is down, the broadcast's
        # publish would retry.
        job_queue = queue_depth(queue_name)
        workers, broker_error = celery_workers(), ""
    except Exception as exc:  # a status page reports a broker failure, it never raises
        logger.warning("worker status: the broker did not answer", exc_info=True)
        workers, broker_error = None, type(exc).__name__
        job_queue = QueueDepth(name=queue_name, waiting=None)
    jobs = PredictionJob.objects.aggregate(
        queued=Count("pk", filter=Q(status=JobStatus.QUEUED)),
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        last_heartbeat=Max("heartbeat_at"),
    )
    tasks = Task.objects.aggregate(last=Max("stopped"))
    return WorkerStatus(
        checked_at=now,
        workers=workers,
        broker_error=broker_error,
        job_queue=job_queue,
        jobs_queued=jobs["queued"],
        jobs_running=jobs["running"],
        last_job_heartbeat=jobs["last_heartbeat"],
        clusters=housekeeping_clusters(),
        housekeeping_waiting=get_broker().queue_size() or 0,
        last_housekeeping_task_at=tasks["last"],
        housekeeping_failures_24h=Failure.objects.filter(stopped__gte=now - RECENT).count(),
    )
