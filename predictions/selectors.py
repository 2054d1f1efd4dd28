import time

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import MLModel, PredictionJob


def _usable_now() -> QuerySet[MLModel]:
    return (
        MLModel.objects.filter(default_version__is_active=True, deleted_at__isnull=True)
        .select_related("default_version")
        .order_by("task", "default_version__price_per_row", "slug")
    )


def catalog() -> QuerySet[MLModel]:
    """Published models that can be used now (an active default version): the default
    models, and customers' models staff have published."""
    return _usable_now().filter(is_published=True)


def own_models(*, user) -> QuerySet[MLModel]:
    """A customer's own models that can be used now (private unless staff published them)."""
    return _usable_now().filter(owner=user) if user.is_authenticated else MLModel.objects.none()


def usable_models(*, user) -> QuerySet[MLModel]:
    """What `user` may predict with: the catalog and their own models."""
    if not user.is_authenticated:
        return catalog()
    return _usable_now().filter(Q(is_published=True) | Q(owner=user))


def usable_model(*, user, slug: str) -> MLModel:
    """One model `user` may predict with; any other is a 404."""
    return get_object_or_404(usable_models(user=user), slug=slug)


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
