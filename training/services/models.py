"""A customer's own models: choose the version that answers, delete softly, compare."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mfdp.errors import InvalidInput
from predictions.models import MLModel, ModelVersion

# Metrics compared, and whether a higher value is better.
COMPARED_METRICS = {
    "regression": {"r2": True, "mae": False, "rmse": False},
    "classification": {"accuracy": True, "f1": True, "roc_auc": True, "log_loss": False},
}
COMPARE_MIN, COMPARE_MAX = 2, 4


def version_activate(*, model: MLModel, version: ModelVersion) -> MLModel:
    """The version that answers predictions from now on (the model's default)."""
    if version.model_id != model.pk or not version.is_active or version.artifact_purged_at:
        raise InvalidInput(_("This version cannot be used."), code="version_unavailable")
    MLModel.objects.filter(pk=model.pk).update(default_version=version, updated_at=timezone.now())
    model.refresh_from_db()
    return model


def model_delete(*, model: MLModel) -> MLModel:
    """Delete softly: the model disappears from the customer's lists and can no longer
    predict; its jobs and ledger entries stay readable; its files go after the retention
    period (purge_deleted_models)."""
    with transaction.atomic():
        locked = MLModel.objects.select_for_update().get(pk=model.pk)
        if locked.deleted_at is None:
            locked.deleted_at = timezone.now()
            locked.is_published = False
            locked.save(update_fields=["deleted_at", "is_published", "updated_at"])
    return locked


def purge_deleted_models(*, now=None) -> int:
    """Remove the model files of versions whose model was deleted more than
    JOB_FILES_RETENTION_DAYS ago; the version rows stay (jobs refer to them)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.JOB_FILES_RETENTION_DAYS)
    purged = 0
    old = ModelVersion.objects.filter(
        model__deleted_at__lt=cutoff, artifact_purged_at__isnull=True
    ).exclude(artifact="")
    for version in old:
        version.artifact.storage.delete(version.artifact.name)
        ModelVersion.objects.filter(pk=version.pk).update(
            artifact="", artifact_purged_at=now, is_active=False
        )
        purged += 1
    return purged


@dataclass(frozen=True)
class Comparison:
    task: str
    target: str
    versions: list[ModelVersion]
    metrics: list[dict[str, Any]]  # one row per metric: name, values (per version), best index

    def to_dict(self, *, viewer=None) -> dict[str, Any]:
        """`viewer`: curves hold held-out rows of the owner's data, so another customer
        comparing a published model sees its metrics only."""
        return {
            "task": self.task,
            "target": self.target,
            "versions": [
                {
                    "id": version.pk,
                    "model": version.model.slug,
                    "name": version.model.name,
                    "version": version.number,
                    "algorithm": version.training.get("algorithm", ""),
                    "curves": (
                        _curves_for_overlay(version, self.task)
                        if version.model.owner_id in (None, getattr(viewer, "pk", None))
                        else {}
                    ),
                }
                for version in self.versions
            ],
            "metrics": self.metrics,
        }


def _curves_for_overlay(version: ModelVersion, task: str) -> dict[str, Any]:
    """One curve per version for one chart: the ROC of the positive class (binary), or of
    the first class against the rest (multiclass: every compared version has the same
    classes); predicted against actual for regression."""
    curves = version.curves or {}
    if task == "classification":
        roc = curves.get("roc") or version.metrics.get("roc_curve") or {}
        if "fpr" not in roc and roc:
            label = sorted(roc)[0]
            roc = {**roc[label], "class": label}
        return {"roc": roc if "fpr" in roc else {}}
    return {"predicted_vs_actual": curves.get("predicted_vs_actual", {})}


def _metric_rows(task: str, versions: list[ModelVersion]) -> list[dict[str, Any]]:
    rows = []
    for name, higher_is_better in COMPARED_METRICS[task].items():
        values = [version.metrics.get(name) for version in versions]
        present = [
            (value, index) for index, value in enumerate(values) if isinstance(value, int | float)
        ]
        best = None
        if present:
            best = (max if higher_is_better else min)(present)[1]
        rows.append(
            {"name": name, "values": values, "best": best, "higher_is_better": higher_is_better}
        )
    return rows


def compare(*, versions: list[ModelVersion]) -> Comparison:
    """Metrics of 2-4 versions that predict the same target, the best of each marked."""
    unique = list(dict.fromkeys(versions))
    if not COMPARE_MIN <= len(unique) <= COMPARE_MAX:
        raise InvalidInput(
            _("Compare between %(min)s and %(max)s versions.")
            % {"min": COMPARE_MIN, "max": COMPARE_MAX},
            code="compare_count",
        )
    tasks = {version.model.task for version in unique}
    targets = {version.target.casefold() for version in unique}
    if len(tasks) > 1 or len(targets) > 1:
        raise InvalidInput(
            _("Only versions that predict the same target can be compared."),
            code="compare_different_targets",
        )
    if tasks == {"classification"} and len({tuple(version.classes) for version in unique}) > 1:
        raise InvalidInput(
            _("Only versions that predict the same target can be compared."),
            code="compare_different_targets",
        )
    task = tasks.pop()
    return Comparison(
        task=task,
        target=unique[0].target,
        versions=unique,
        metrics=_metric_rows(task, unique),
    )
