import django_filters
from django.utils.translation import gettext_lazy as _

from mfdp.filters import CreatedBetweenFilterSet

from .models import JobStatus, MLModel, PredictionJob


class JobFilter(CreatedBetweenFilterSet):
    """The job list's filters: status, model and creation date."""

    status = django_filters.ChoiceFilter(
        choices=JobStatus.choices, label=_("Status"), empty_label=_("All statuses")
    )
    model = django_filters.ModelChoiceFilter(
        field_name="version__model",
        queryset=MLModel.objects.all(),
        to_field_name="slug",
        label=_("Model"),
        empty_label=_("All models"),
    )

    class Meta:
        model = PredictionJob
        fields = ["status", "model", "date_from", "date_to"]

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is None and self.request is not None:
            user = self.request.user
        # Only the models this user has used, so another customer's private model never shows.
        self.filters["model"].queryset = MLModel.objects.filter(
            versions__jobs__owner=user
        ).distinct()
