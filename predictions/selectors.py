import time

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import MLModel, PredictionJob


def catalog() -> QuerySet[MLModel]:
    """Published public models that can be used now (an active default version)."""
    return (
        MLModel.objects.filter(
            is_published=True, owner__isnull=True, default_version__is_active=True
        )
        .select_related("default_version")
        .order_by("task", "default_version__price_per_row", "slug")
    )


def catalog_model(*, slug: str) -> MLModel:
    return get_object_or_404(catalog(), slug=slug)


def jobs_of(*, user) -> QuerySet[PredictionJob]:
    """A customer's jobs, newest first, with what their pages and API show."""
    return PredictionJob.objects.filter(owner=user).select_related("version__model")


# How often a waiting request looks at its job: soon at first (one row takes tens of
# milliseconds on a warm worker), then at most twice a second.
WAIT_PAUSES = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)


def job_when_finished(*, job: PredictionJob, seconds: float) -> PredictionJob:
    """The job once it has finished, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    step = 0
    while not job.is_finished:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(WAIT_PAUSES[min(step, len(WAIT_PAUSES) - 1)], left))
        step += 1
        job = PredictionJob.objects.select_related("version__model").get(pk=job.pk)
    return job
