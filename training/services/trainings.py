"""Trainings: quote, submit (charge), run in stages on a worker, cancel, settle.

Money rules as for prediction jobs: a training is charged in the transaction that creates it
and settled exactly once, in the transaction that finishes it. Only a training that produced
a model version keeps its charge; a failed or canceled one is refunded in full.
"""

import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import User
from billing import selectors as billing_selectors
from billing import services as billing
from billing.models import LedgerEntry
from billing.quotes import PriceQuote
from mfdp.errors import DomainError, InvalidInput
from predictions.ml.algorithms import Algorithm, get_algorithm
from predictions.ml.errors import MLError
from predictions.ml.fitting import TrainedModel, TrainingStopped, fit_and_evaluate
from predictions.ml.profiling import DatasetSchema
from predictions.ml.profiling import training_table as build_training_table
from predictions.models import JobStatus, MLModel, ModelVersion
from predictions.services import registry

from ..models import Dataset, TrainingJob, TrainingStage
from .datasets import dataset_frame
from .errors import customer_error

logger = logging.getLogger(__name__)

SEED = 42
HEARTBEAT_SECONDS = 30
# Where each stage's share of the progress bar ends; it starts where the previous one ended.
STAGE_ENDS = {
    TrainingStage.LOADING: 10,
    TrainingStage.SPLITTING: 15,
    TrainingStage.FITTING: 80,
    TrainingStage.EVALUATING: 92,
    TrainingStage.SAVING: 99,
}
STAGE_STARTS = dict(zip(STAGE_ENDS, [0, *STAGE_ENDS.values()], strict=False))


@dataclass(frozen=True)
class TrainingQuote(PriceQuote):
    algorithm: Algorithm
    params: dict[str, Any]
    rows: int


class DatasetNotConfirmed(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("Confirm the dataset's schema before training on it."), code="dataset_not_confirmed"
        )


class WrongTask(DomainError):
    def __init__(self, algorithm: Algorithm, task: str) -> None:
        super().__init__(
            _("This algorithm learns %(algorithm_task)s; the dataset's target asks for %(task)s.")
            % {"algorithm_task": algorithm.task, "task": task},
            code="algorithm_task_mismatch",
            algorithm=algorithm.name,
            task=task,
        )


def _schema_of(dataset: Dataset) -> DatasetSchema:
    return DatasetSchema.from_dict(dataset.schema)


def _checked_choice(
    *, dataset: Dataset, algorithm: str, params: dict | None
) -> tuple[Algorithm, dict]:
    """The algorithm and its complete hyperparameters, or a clear error before any charge."""
    if not dataset.is_confirmed:
        raise DatasetNotConfirmed()
    try:
        chosen = get_algorithm(algorithm)
        complete = chosen.validate(params)
        schema = _schema_of(dataset)
        chosen.columns(schema.features())  # the dataset has columns of the algorithm's kind
    except MLError as error:
        raise customer_error(error) from error
    if chosen.task != schema.task:
        raise WrongTask(chosen, schema.task)
    return chosen, complete


def training_quote(
    *, user: User, dataset: Dataset, algorithm: str, params: dict | None = None
) -> TrainingQuote:
    """What training would cost now and the balance after; charges nothing."""
    chosen, complete = _checked_choice(dataset=dataset, algorithm=algorithm, params=params)
    return TrainingQuote(
        algorithm=chosen,
        params=complete,
        rows=dataset.rows,
        cost=chosen.price(dataset.rows),
        balance=billing_selectors.balance_of(user=user),
    )


def _charge_reference(job: TrainingJob) -> str:
    return f"training:{job.pk}:charge"


def _model_for_retraining(
    *, user: User, model: MLModel | None, task: str, target: str
) -> MLModel | None:
    if model is None:
        return None
    if model.owner_id != user.pk or model.deleted_at is not None:
        raise InvalidInput(_("You can retrain only your own models."), code="not_your_model")
    answering = model.default_version
    if model.task != task or (
        answering is not None and answering.target.casefold() != target.casefold()
    ):
        raise InvalidInput(
            _("The model predicts %(model_target)s; this dataset's target is %(target)s.")
            % {"model_target": answering.target if answering else model.task, "target": target},
            code="model_task_mismatch",
        )
    return model


def training_submit(
    *,
    user: User,
    dataset: Dataset,
    algorithm: str,
    params: dict | None = None,
    name: str = "",
    model: MLModel | None = None,
    idempotency_key: str = "",
    quoted_cost: int | None = None,
) -> TrainingJob:
    """Charge the quoted price and queue the training; `model` retrains one of the
    customer's models (the result is its next version). `quoted_cost`: what the customer
    was shown; a different price now is refused. InsufficientCredits writes nothing."""
    from ..tasks import run_training_job

    quote = training_quote(user=user, dataset=dataset, algorithm=algorithm, params=params)
    if quoted_cost is not None and quoted_cost != quote.cost:
        raise InvalidInput(
            _("The price changed since the quote: ask for a new one."), code="price_changed"
        )
    schema = _schema_of(dataset)
    model = _model_for_retraining(user=user, model=model, task=schema.task, target=schema.target)
    model_name = (name or "").strip()[:120] or (model.name_en if model else dataset.name)
    if idempotency_key:
        existing = TrainingJob.objects.filter(owner=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            job = TrainingJob.objects.create(
                owner=user,
                dataset=dataset,
                dataset_name=dataset.name,
                dataset_sha256=dataset.file_sha256,
                schema=dataset.schema,
                algorithm=quote.algorithm.name,
                params=quote.params,
                seed=SEED,
                model_name=model_name,
                model=model,
                rows=quote.rows,
                cost_charged=quote.cost,
                idempotency_key=idempotency_key,
            )
            billing.charge(
                user=user,
                amount=quote.cost,
                reference=_charge_reference(job),
                memo=f"training {quote.algorithm.name} · {quote.rows}",
                subject=job,
            )
            transaction.on_commit(lambda: run_training_job.delay(str(job.pk)))
    except IntegrityError:
        if not idempotency_key:
            raise
        return TrainingJob.objects.get(owner=user, idempotency_key=idempotency_key)
    return job


# Running, on a worker


def _claim(job_id) -> TrainingJob | None:
    now = timezone.now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, stage=TrainingStage.LOADING
    )
    if not claimed:
        return None
    return TrainingJob.objects.select_related("owner", "model").get(pk=job_id)


class _Progress:
    """Records stage and progress with a heartbeat, and answers whether to stop."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job

    def __call__(self, stage: str, fraction: float) -> None:
        start, end = STAGE_STARTS[stage], STAGE_ENDS[stage]
        percent = round(start + (end - start) * max(0.0, min(1.0, fraction)))
        TrainingJob.objects.filter(pk=self.job.pk).update(
            stage=stage, progress=percent, heartbeat_at=timezone.now()
        )

    def should_stop(self) -> bool:
        return TrainingJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists()


def run_training(*, job_id) -> TrainingJob | None:
    """Run a queued training to its end (the Celery task calls this). Safe to call twice:
    only the call that claims the job runs it. Any failure settles it as failed, refunded."""
    job = _claim(job_id)
    if job is None:
        logger.info("training %s is not queued; nothing to do", job_id)
        return None
    progress = _Progress(job)
    try:
        with tempfile.TemporaryDirectory() as folder, _beating(job):
            trained = _train(job, progress, Path(folder) / "model.skops")
            if progress.should_stop():
                raise TrainingStopped()
            return _deliver(job, trained, Path(folder) / "model.skops")
    except TrainingStopped:
        return settle_training(job=job, status=JobStatus.CANCELED)
    except MLError as error:
        return settle_training(
            job=job,
            status=JobStatus.FAILED,
            error_code=error.code,
            error=customer_error(error).message,
        )
    except Exception as error:
        logger.exception("training %s failed", job.pk)
        return settle_training(
            job=job,
            status=JobStatus.FAILED,
            error_code=getattr(error, "code", "worker_error"),
            error=str(getattr(error, "message", "") or _("The training failed on the worker.")),
        )


@contextmanager
def _beating(job: TrainingJob) -> Iterator[None]:
    """Keep the heartbeat fresh while a long step (one fit, the permutation importance, the
    save) runs, so the reaper fails only trainings whose worker is really gone."""
    stopped = threading.Event()

    def beat() -> None:
        try:
            while not stopped.wait(HEARTBEAT_SECONDS):
                TrainingJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    beater = threading.Thread(target=beat, name=f"heartbeat-{job.pk}", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stopped.set()
        beater.join()


def _deliver(job: TrainingJob, trained: TrainedModel, artifact: Path) -> TrainingJob:
    """Register the version and settle, under the training's row lock: a training the
    reaper or staff ended meanwhile (and refunded) delivers nothing."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            return locked
        version = _register(locked, trained, artifact)
        return settle_training(job=locked, status=JobStatus.SUCCEEDED, version=version)


def _train(job: TrainingJob, progress: _Progress, out_path: Path) -> TrainedModel:
    if job.dataset is None:
        raise InvalidInput(
            _("The dataset was deleted before the training ran."), code="dataset_deleted"
        )
    progress(TrainingStage.LOADING, 0.0)
    table = build_training_table(dataset_frame(job.dataset), DatasetSchema.from_dict(job.schema))
    progress(TrainingStage.LOADING, 1.0)
    return fit_and_evaluate(
        table.frame,
        schema=table.schema.features(),
        target=table.schema.target,
        task=table.schema.task,
        algorithm=get_algorithm(job.algorithm),
        params=job.params,
        seed=job.seed,
        out_path=out_path,
        data_sha256=table.data_sha256,
        step=progress,
        should_stop=progress.should_stop,
    )


def _unique_slug(job: TrainingJob) -> str:
    base = slugify(job.model_name)[:50] or "model"
    while True:
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
        if not MLModel.objects.filter(slug=slug).exists():
            return slug


def _register(job: TrainingJob, trained: TrainedModel, artifact: Path) -> ModelVersion:
    """The trained file becomes the next version of the customer's model (a new private
    model unless retraining), through the registry's checks."""
    algorithm = get_algorithm(job.algorithm)
    schema = DatasetSchema.from_dict(job.schema)
    model = MLModel.objects.filter(pk=job.model_id).first() if job.model_id else None
    if model is not None and model.deleted_at is not None:
        raise InvalidInput(_("The model to retrain was deleted meanwhile."), code="model_deleted")
    if model is None:
        model = MLModel.objects.create(
            slug=_unique_slug(job),
            name_en=job.model_name,
            name_ru=job.model_name,
            description_en=f"{algorithm.label['en']} · {job.dataset_name}",
            description_ru=f"{algorithm.label['ru']} · {job.dataset_name}",
            task=schema.task,
            owner=job.owner,
            is_published=False,
        )
    record = {
        **trained.record,
        "dataset": {"name": job.dataset_name, "file_sha256": job.dataset_sha256},
        "training_job": str(job.pk),
    }
    with artifact.open("rb") as produced:
        version = registry.version_create(
            model=model,
            artifact=File(produced, name="model.skops"),
            schema=schema.features().to_dict(),
            target=schema.target,
            classes=trained.classes,
            price_per_row=algorithm.predict_price_per_row,
            metrics=trained.metrics,
            training=record,
            curves=trained.curves,
            feature_importance=trained.feature_importance,
            explainer={"method": algorithm.explanation, "background": trained.background},
            made_here=True,
        )
    if job.model_id is not None:
        MLModel.objects.filter(pk=model.pk).update(
            description_en=f"{algorithm.label['en']} · {job.dataset_name}",
            description_ru=f"{algorithm.label['ru']} · {job.dataset_name}",
        )
        # A retrained model answers with its newest version unless the customer says otherwise.
        MLModel.objects.filter(pk=model.pk).update(default_version=version)
    return version


def settle_training(
    *,
    job: TrainingJob,
    status: str,
    version: ModelVersion | None = None,
    error_code: str = "",
    error: str = "",
) -> TrainingJob:
    """Finish a training once, under its row lock: a version keeps the charge, anything
    else refunds it in full. A finished training is left as it is."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            return locked
        refund_amount = 0 if version is not None else locked.cost_charged
        if refund_amount:
            billing.refund(
                charge=LedgerEntry.objects.get(reference=_charge_reference(locked)),
                amount=refund_amount,
                reference=f"training:{locked.pk}:refund",
                memo=f"training {locked.algorithm} · {status}",
            )
        locked.status = status
        locked.version = version
        locked.stage = TrainingStage.DONE if version is not None else locked.stage
        locked.progress = 100 if version is not None else locked.progress
        locked.credits_refunded = refund_amount
        locked.error_code = error_code
        locked.error = error
        locked.finished_at = timezone.now()
        locked.save()
    return locked


def training_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued training ends at once, refunded; a running one stops at its next step."""
    if job.is_finished:
        return job
    before_start = TrainingJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, cancel_requested=True
    )
    if before_start:
        return settle_training(job=job, status=JobStatus.CANCELED)
    TrainingJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True)
    return TrainingJob.objects.get(pk=job.pk)


def fail_silent_trainings(*, silence: timedelta | None = None) -> int:
    """Fail and refund running trainings whose worker stopped beating (killed, lost)."""
    if silence is None:
        silence = timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)
    limit = timezone.now() - silence
    stale = TrainingJob.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    )
    failed = 0
    for job in stale:
        settle_training(
            job=job,
            status=JobStatus.FAILED,
            error_code="worker_lost",
            error=_("The worker running this training stopped answering."),
        )
        failed += 1
    return failed
