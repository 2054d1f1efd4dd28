import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .ml.inference import ModelTask
from .ml.schema import InputSchema


class Task(models.TextChoices):
    REGRESSION = "regression", _("regression")
    CLASSIFICATION = "classification", _("classification")


class MLModel(models.Model):
    """A catalog entry: what the model predicts, in two languages. Its versions carry the
    file, the schema and the price."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ru = models.CharField(_("name (Russian)"), max_length=120)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ru = models.TextField(_("description (Russian)"), blank=True)
    task = models.CharField(_("task"), max_length=20, choices=Task.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ml_models",
        verbose_name=_("owner"),
        help_text=_("Empty for the public catalog."),
    )
    is_published = models.BooleanField(_("published"), default=False)
    default_version = models.ForeignKey(
        "ModelVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default version"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Own models are deleted softly: jobs and the ledger keep pointing at their versions, the
    # files go after the retention period.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def name(self) -> str:
        return self.name_ru if (get_language() or "").startswith("ru") else self.name_en

    @property
    def description(self) -> str:
        if (get_language() or "").startswith("ru") and self.description_ru:
            return self.description_ru
        return self.description_en


def artifact_path(version: "ModelVersion", filename: str) -> str:
    return f"models/{version.model.slug}/v{version.number}-{version.sha256[:16]}.skops"


class ModelVersion(models.Model):
    """One trained file of a model with everything needed to use and explain it. The file's
    bytes never change: a new file is a new version."""

    model = models.ForeignKey(
        MLModel, on_delete=models.PROTECT, related_name="versions", verbose_name=_("model")
    )
    number = models.PositiveIntegerField(_("version"))
    artifact = models.FileField(_("model file"), upload_to=artifact_path, max_length=255)
    sha256 = models.CharField(_("sha256"), max_length=64, editable=False)
    schema = models.JSONField(_("input schema"))
    target = models.CharField(_("target"), max_length=120)
    classes = models.JSONField(_("classes"), default=list, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    training = models.JSONField(_("training record"), default=dict, blank=True)
    plot_svg = models.TextField(_("metrics plot (SVG)"), blank=True)
    curves = models.JSONField(_("evaluation curves"), default=dict, blank=True)
    feature_importance = models.JSONField(_("feature importance"), default=list, blank=True)
    # What explaining a prediction needs besides the file: {"method": "linear" | "tree" |
    # "text_linear", "background": [mean of each prepared feature] for linear models}.
    explainer = models.JSONField(_("explainer"), default=dict, blank=True)
    artifact_purged_at = models.DateTimeField(_("file removed"), null=True, blank=True)
    price_per_row = models.PositiveIntegerField(_("price per row (credits)"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="predictions_version_unique"),
            models.CheckConstraint(
                condition=Q(price_per_row__gte=1), name="predictions_version_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} v{self.number}"

    @property
    def input_schema(self) -> InputSchema:
        return InputSchema.from_dict(self.schema)

    @property
    def task(self) -> ModelTask:
        return ModelTask(kind=self.model.task, classes=tuple(self.classes))

    @property
    def can_explain(self) -> bool:
        return bool(self.explainer.get("method"))

    @property
    def headline(self) -> dict | None:
        """{"name", "value"} of the metric the catalog shows first."""
        return self.metrics.get("headline")


class JobKind(models.TextChoices):
    SINGLE = "single", _("one row")
    BATCH = "batch", _("file")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELED = "canceled", _("canceled")


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


def upload_path(job: "PredictionJob", filename: str) -> str:
    # A random key under the owner's prefix; the customer's file name is kept only as data.
    return f"uploads/{job.owner_id}/{job.pk}/{uuid.uuid4().hex}{Path(filename).suffix.lower()}"


def result_path(job: "PredictionJob", filename: str) -> str:
    return f"results/{job.owner_id}/{job.pk}/{uuid.uuid4().hex}.xlsx"


class PredictionJob(models.Model):
    """One prediction asked for: one row or a file, charged on submit, settled when it ends
    (delivered rows kept, undelivered rows refunded)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="prediction_jobs",
        verbose_name=_("owner"),
    )
    version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="jobs", verbose_name=_("model version")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=JobKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    input = models.JSONField(_("input row"), null=True, blank=True)
    explain = models.BooleanField(_("explain the prediction"), default=False)
    upload = models.FileField(_("uploaded file"), upload_to=upload_path, max_length=255, blank=True)
    upload_name = models.CharField(_("file name"), max_length=255, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows predicted"), default=0)
    rows_failed = models.PositiveIntegerField(_("rows failed"), default=0)
    output = models.JSONField(_("output"), null=True, blank=True)
    result = models.FileField(_("result file"), upload_to=result_path, max_length=255, blank=True)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.TextField(_("error"), blank=True)
    price_per_row = models.PositiveIntegerField(_("price per row"))
    cost_charged = models.PositiveBigIntegerField(_("credits charged"), default=0)
    credits_refunded = models.PositiveBigIntegerField(_("credits refunded"), default=0)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("worker heartbeat"), null=True, blank=True)
    data_purged_at = models.DateTimeField(_("files removed"), null=True, blank=True)

    class Meta:
        verbose_name = _("prediction job")
        verbose_name_plural = _("prediction jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="predictions_job_owner_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="predictions_job_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="predictions_job_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(credits_refunded__lte=models.F("cost_charged")),
                name="predictions_job_refund_within_charge",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.get_kind_display()} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 0
        percent = min(100, round(100 * (self.rows_done + self.rows_failed) / self.rows_total))
        # The result file is still being written when every row is counted: not 100% yet.
        return percent if self.is_finished else min(percent, 99)

    @property
    def cost_net(self) -> int:
        return self.cost_charged - self.credits_refunded
