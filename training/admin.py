"""Own models in the back office, read-only: datasets and trainings. A training's money moves
only through the cancel action, a service; publishing a customer's model to the catalog is
the models admin's publish action."""

import uuid

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from mfdp.errors import DomainError
from predictions.models import FINISHED_STATUSES

from . import services
from .models import Dataset, TrainingJob


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        try:
            return queryset.filter(pk=uuid.UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "rows", "target", "profile_status", "created_at")
    list_filter = ("profile_status",)
    date_hierarchy = "created_at"
    search_fields = ("owner__email", "name")
    search_help_text = _("A dataset's id, its name or its owner's e-mail.")
    list_select_related = ("owner",)
    exclude = ("profile",)


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "owner",
        "algorithm",
        "dataset_name",
        "rows",
        "status",
        "stage",
        "cost_charged",
        "credits_refunded",
        "version",
        "created_at",
    )
    list_filter = ("status", "algorithm")
    date_hierarchy = "created_at"
    search_fields = ("owner__email",)
    search_help_text = _("A training's id, or its owner's e-mail.")
    list_select_related = ("owner", "version__model")
    actions = ["cancel_trainings"]

    @admin.display(description=_("training"))
    def short_id(self, job: TrainingJob) -> str:
        return str(job.pk)[:8]

    @admin.action(description=_("Cancel (refund in full)"))
    def cancel_trainings(self, request, queryset):
        for job in queryset.exclude(status__in=FINISHED_STATUSES):
            try:
                services.training_cancel(job=job)
            except DomainError as error:
                self.message_user(request, f"{job.pk}: {error.message}", messages.ERROR)
            else:
                self.log_change(request, job, "canceled")
