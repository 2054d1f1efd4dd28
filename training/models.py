"""Customers' own models: the training tables they upload (datasets) and the trainings that
turn one into a private model version. The model and its versions live in predictions."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from predictions.models import FINISHED_STATUSES, JobStatus


def dataset_path(dataset: "Dataset", filename: str) -> str:
    # A random key under the owner's prefix; the customer's file name is kept only as data.
    suffix = Path(filename).suffix.lower()
    return f"datasets/{dataset.owner_id}/{dataset.pk}/{uuid.uuid4().hex}{suffix}"


class ProfileStatus(models.TextChoices):
    PENDING = "pending", _("waiting for confirmation")
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("computing")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Dataset(models.Model):
    """A training table: the stored upload, the target and the schema the customer
    confirmed, and the exploration figures a worker computes once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="datasets",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=120)
    upload = models.FileField(_("file"), upload_to=dataset_path, max_length=255)
    upload_name = models.CharField(_("file name"), max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    file_sha256 = models.CharField(_("file sha256"), max_length=64)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    target = models.CharField(_("target column"), max_length=255)
    schema = models.JSONField(_("schema"))
    confirmed_at = models.DateTimeField(_("schema confirmed"), null=True, blank=True)
    profile = models.JSONField(_("exploration"), null=True, blank=True)
    profile_status = models.CharField(
        _("exploration status"),
        max_length=10,
        choices=ProfileStatus.choices,
        default=ProfileStatus.PENDING,
    )
    profile_progress = models.PositiveSmallIntegerField(_("exploration progress"), default=0)
    profile_error = models.TextField(_("exploration error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="training_dataset_owner_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class TrainingStage(models.TextChoices):
    WAITING = "", _("waiting")
    LOADING = "load", _("reading the data")
    SPLITTING = "split", _("splitting")
    FITTING = "fit", _("fitting")
    EVALUATING = "evaluate", _("evaluating")
    SAVING = "save", _("saving")
    DONE = "done", _("done")


class TrainingJob(models.Model):
    """One training asked for: charged on confirm, run on a worker in stages, refunded in
    full unless it produced a model version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="training_jobs",
        verbose_name=_("owner"),
    )
    dataset = models.ForeignKey(
        Dataset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="trainings",
        verbose_name=_("dataset"),
    )
    # Kept when the dataset is deleted: which data this training saw.
    dataset_name = models.CharField(_("dataset name"), max_length=120)
    dataset_sha256 = models.CharField(_("dataset sha256"), max_length=64)
    # The dataset's confirmed schema as it was when the training was asked for.
    schema = models.JSONField(_("schema"))
    algorithm = models.CharField(_("algorithm"), max_length=60)
    params = models.JSONField(_("hyperparameters"), default=dict)
    seed = models.PositiveIntegerField(_("seed"), default=42)
    model_name = models.CharField(_("model name"), max_length=120)
    # Set when retraining: the new version joins this model.
    model = models.ForeignKey(
        "predictions.MLModel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trainings",
        verbose_name=_("model"),
    )
    version = models.OneToOneField(
        "predictions.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="training_job",
        verbose_name=_("version produced"),
    )
    rows = models.PositiveIntegerField(_("rows"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    stage = models.CharField(
        _("stage"), max_length=10, choices=TrainingStage.choices, default="", blank=True
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    cost_charged = models.PositiveBigIntegerField(_("credits charged"), default=0)
    credits_refunded = models.PositiveBigIntegerField(_("credits refunded"), default=0)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.TextField(_("error"), blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("worker heartbeat"), null=True, blank=True)

    class Meta:
        verbose_name = _("training")
        verbose_name_plural = _("trainings")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="training_job_owner_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="training_job_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="training_job_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(credits_refunded__lte=models.F("cost_charged")),
                name="training_job_refund_within_charge",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} on {self.dataset_name} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def progress_percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        return min(self.progress, 99)

    @property
    def cost_net(self) -> int:
        return self.cost_charged - self.credits_refunded
