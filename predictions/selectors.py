from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import MLModel


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
