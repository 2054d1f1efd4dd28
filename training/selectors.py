from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from predictions.models import MLModel, ModelVersion

from .models import Dataset, TrainingJob

MAX_ID = 2**31 - 1  # the largest id or version number a database integer holds


def datasets_of(*, user) -> QuerySet[Dataset]:
    return Dataset.objects.filter(owner=user)


def dataset_of(*, user, dataset_id) -> Dataset:
    """One of the customer's datasets; another customer's is a 404."""
    return get_object_or_404(datasets_of(user=user), pk=dataset_id)


def trainings_of(*, user) -> QuerySet[TrainingJob]:
    return TrainingJob.objects.filter(owner=user).select_related("version__model", "model")


def training_of(*, user, job_id) -> TrainingJob:
    return get_object_or_404(trainings_of(user=user), pk=job_id)


def owned_models(*, user) -> QuerySet[MLModel]:
    """Every model the customer trained and has not deleted, with or without an active
    version (the catalog selectors list only usable ones)."""
    return (
        MLModel.objects.filter(owner=user, deleted_at__isnull=True)
        .select_related("default_version")
        .order_by("-created_at")
    )


def owned_model(*, user, slug: str) -> MLModel:
    return get_object_or_404(owned_models(user=user), slug=slug)


def comparable_versions(*, user) -> QuerySet[ModelVersion]:
    """Versions a customer may compare: of their own models (not deleted) or the catalog's."""
    return ModelVersion.objects.filter(
        Q(model__owner=user, model__deleted_at__isnull=True) | Q(model__is_published=True)
    ).select_related("model")


def _number(value) -> int:
    """A version id or number from a request; anything else (words, negatives, numbers no
    database integer holds) is a 404, never a database error."""
    text = str(value)
    if not text.isdigit() or int(text) > MAX_ID:
        raise Http404("no such version")
    return int(text)


def owned_version(*, model: MLModel, number) -> ModelVersion:
    return get_object_or_404(model.versions, number=_number(number))


def compared_versions(*, user, ids) -> list[ModelVersion]:
    """The versions asked for, in the order asked, once each; any the customer may not see
    is a 404."""
    wanted = list(dict.fromkeys(_number(value) for value in ids))
    found = {
        version.pk: version for version in comparable_versions(user=user).filter(pk__in=wanted)
    }
    if len(found) != len(wanted):
        raise Http404("no such version")
    return [found[pk] for pk in wanted]
