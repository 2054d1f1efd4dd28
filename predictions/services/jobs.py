"""Prediction jobs: quote, submit (charge), run (on a worker), cancel, settle, purge.

Money rules: a job is charged rows x price in the transaction that creates it, and settled
exactly once, in the transaction that finishes it, refunding every row not delivered. So a
charged job is always either delivered or refunded, whatever crashes in between.
"""

import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from accounts.models import User
from billing import selectors as billing_selectors
from billing import services as billing
from billing.models import LedgerEntry
from billing.quotes import PriceQuote
from mfdp.errors import DomainError, InvalidInput

from ..ml.errors import MLError
from ..ml.explaining import explain_row
from ..ml.inference import load_model, predict_in_chunks
from ..ml.reading import ReadLimits, read_table
from ..ml.validation import (
    ValidatedRows,
    inputs_for_output,
    validate_record,
    validate_records,
    validate_rows,
)
from ..ml.writing import write_result
from ..models import JobKind, JobStatus, ModelVersion, PredictionJob

logger = logging.getLogger(__name__)


# How long a quoted upload waits for the customer's confirmation before the sweep removes it.
QUOTE_HOLD = timedelta(hours=1)
QUOTES_FOLDER = "quotes"

# Contributions kept in an explained prediction; the rest are summed as "other".
EXPLANATION_TOP = 12

# Written in the result file's error column; files are read by people of either language.
CANCELED_ROW_MESSAGE = "not predicted: the job was canceled"


@dataclass(frozen=True)
class Quote(PriceQuote):
    rows: int
    price_per_row: int


def read_limits() -> ReadLimits:
    return ReadLimits(max_bytes=settings.UPLOAD_MAX_BYTES, max_rows=settings.BATCH_MAX_ROWS)


def quote(*, user: User, version: ModelVersion, rows: int) -> Quote:
    """What `rows` rows would cost now, and the balance after; charges nothing."""
    return Quote(
        rows=rows,
        price_per_row=version.price_per_row,
        cost=rows * version.price_per_row,
        balance=billing_selectors.balance_of(user=user),
    )


def _usable(version: ModelVersion, user: User) -> ModelVersion:
    """Active, of a model not deleted, and published or the customer's own."""
    model = version.model
    if (
        not version.is_active
        or model.deleted_at is not None
        or not (model.is_published or model.owner_id == user.pk)
    ):
        raise InvalidInput(_("This model version is not available."), code="model_unavailable")
    return version


def _problems_payload(checked: ValidatedRows) -> list[dict[str, Any]]:
    return [
        {
            "row": problem.row,
            "column": problem.column,
            "code": problem.code,
            "message": problem.message,
        }
        for problem in checked.problems
    ]


def _charge_reference(job: PredictionJob) -> str:
    return f"job:{job.pk}:charge"


def _create_charged_job(
    *, user: User, version: ModelVersion, rows: int, fields: dict[str, Any], upload=None
) -> PredictionJob:
    """Create the job and charge it in one transaction; enqueue its run after commit.
    InsufficientCredits leaves nothing behind."""
    from ..tasks import run_prediction_job

    with transaction.atomic():
        job = PredictionJob(
            owner=user,
            version=version,
            rows_total=rows,
            price_per_row=version.price_per_row,
            cost_charged=rows * version.price_per_row,
            **fields,
        )
        if upload is not None:
            job.upload.save(job.upload_name or "upload", upload, save=False)
        job.save(force_insert=True)
        billing.charge(
            user=user,
            amount=job.cost_charged,
            reference=_charge_reference(job),
            memo=f"{version.model.slug} v{version.number} · {rows}",
            subject=job,
        )
        transaction.on_commit(lambda: run_prediction_job.delay(str(job.pk)))
    return job


def _clean_rows(checked: ValidatedRows, version: ModelVersion) -> list[dict[str, Any]]:
    """The typed rows as JSON-ready mappings (missing values as None)."""
    names = [column.name for column in version.input_schema.columns]
    return [
        {name: (None if value != value else value) for name, value in zip(names, row, strict=True)}
        for row in checked.frame.astype("object").itertuples(index=False, name=None)
    ]


def submit_single(
    *,
    user: User,
    version: ModelVersion,
    record: dict[str, Any],
    idempotency_key: str = "",
    webhook_url: str = "",
    explain: bool = False,
) -> PredictionJob:
    """Predict one row, and with `explain` each feature's contribution (at no extra cost).
    The row is validated before anything is charged (InvalidInput with the problems); then
    the job is created and charged, and a worker runs it."""
    _usable(version, user)
    if explain and not version.can_explain:
        raise InvalidInput(
            _("This model cannot explain its predictions."), code="explanation_unavailable"
        )
    checked = validate_record(record, version.input_schema)
    if checked.problems:
        raise InvalidInput(
            _("The row has invalid values."),
            code="invalid_row",
            problems=_problems_payload(checked),
        )
    return _create_charged_job(
        user=user,
        version=version,
        rows=1,
        fields={
            "kind": JobKind.SINGLE,
            "input": _clean_rows(checked, version)[0],
            "explain": explain,
            "idempotency_key": idempotency_key,
            "webhook_url": webhook_url,
        },
    )


def submit_rows(
    *,
    user: User,
    version: ModelVersion,
    records: list[dict[str, Any]],
    idempotency_key: str = "",
    webhook_url: str = "",
) -> PredictionJob:
    """Predict a few rows given inline (the API's `inputs`), as a batch whose predictions
    come back in the job itself. Unlike a file, every row must be valid: one bad row refuses
    the request with the problems of all rows (numbered from 0), and nothing is charged."""
    _usable(version, user)
    limit = settings.API_INLINE_ROWS_MAX
    if not 1 <= len(records) <= limit:
        raise InvalidInput(
            _("Send between 1 and %(limit)s rows inline; upload a file for more.")
            % {"limit": limit},
            code="inline_rows_limit",
            limit=limit,
        )
    checked = validate_records(records, version.input_schema, first_row_number=0)
    if checked.problems:
        raise InvalidInput(
            _("Some rows have invalid values."),
            code="invalid_rows",
            problems=_problems_payload(checked),
        )
    return _create_charged_job(
        user=user,
        version=version,
        rows=len(records),
        fields={
            "kind": JobKind.BATCH,
            "input": _clean_rows(checked, version),
            "idempotency_key": idempotency_key,
            "webhook_url": webhook_url,
        },
    )


def _table_error(error: MLError) -> InvalidInput:
    return InvalidInput(error.message, code=error.code, **error.params)


def inspect_upload(*, version: ModelVersion, upload) -> int:
    """Check an uploaded file as the job will read it (type by content, size, zip and sheet
    guards, header against the schema, row limit) and count its rows. Charges nothing."""
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "upload"
        with local.open("wb") as copy:
            for chunk in upload.chunks():
                copy.write(chunk)
        try:
            table = read_table(local, schema=version.input_schema, limits=read_limits())
        except MLError as error:
            raise _table_error(error) from error
    upload.seek(0)
    return table.rows


def submit_batch(
    *,
    user: User,
    version: ModelVersion,
    upload,
    filename: str,
    idempotency_key: str = "",
    webhook_url: str = "",
) -> PredictionJob:
    """Predict a file. The file is checked and counted first (a bad file costs nothing); then
    the job is created and charged rows x price; rows that fail validation are refunded when
    the job settles."""
    _usable(version, user)
    rows = inspect_upload(version=version, upload=upload)
    return _create_charged_job(
        user=user,
        version=version,
        rows=rows,
        fields={
            "kind": JobKind.BATCH,
            "upload_name": get_valid_filename(Path(filename or "upload").name)[:200] or "upload",
            "idempotency_key": idempotency_key,
            "webhook_url": webhook_url,
        },
        upload=File(upload),
    )


class QuoteExpired(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("This quote is no longer valid: upload the file again."), code="quote_expired"
        )


def quote_upload_hold(*, user: User, upload) -> str:
    """Keep a quoted upload, under a random key in the customer's quote folder, until they
    confirm it or sweep_quote_uploads removes it; returns the key."""
    return default_storage.save(f"{QUOTES_FOLDER}/{user.pk}/{uuid.uuid4().hex}", upload)


def _quote_held_for(*, user: User, key: str) -> bool:
    name = key.removeprefix(f"{QUOTES_FOLDER}/{user.pk}/")
    return name != key and name.isalnum() and default_storage.exists(key)


def submit_quoted_upload(
    *, user: User, version: ModelVersion, key: str, filename: str
) -> PredictionJob:
    """Charge a held upload and start its job; the held copy is then removed. The key is the
    job's idempotency key, so a confirm sent twice (even at once) gives the same job."""
    idempotency_key = f"page-quote:{key}"
    existing = PredictionJob.objects.filter(owner=user, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if not _quote_held_for(user=user, key=key):
        raise QuoteExpired()
    try:
        with default_storage.open(key, "rb") as stored:
            job = submit_batch(
                user=user,
                version=version,
                upload=stored,
                filename=filename,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        return PredictionJob.objects.get(owner=user, idempotency_key=idempotency_key)
    except InvalidInput:
        default_storage.delete(key)
        raise
    default_storage.delete(key)
    return job


def _stored_files(folder: str) -> Iterator[str]:
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for name in folders:
        yield from _stored_files(f"{folder}/{name}")


def sweep_quote_uploads(*, now=None) -> int:
    """Delete quoted uploads never confirmed once their quote has expired; returns how many."""
    cutoff = (now or timezone.now()) - QUOTE_HOLD
    swept = 0
    for name in _stored_files(QUOTES_FOLDER):
        if default_storage.get_modified_time(name) < cutoff:
            default_storage.delete(name)
            swept += 1
    return swept


# Running, on a worker


class _ModelCache:
    """Loaded models by sha256, per process: loading a forest or a TF-IDF vocabulary takes
    up to a second, a chunk of predictions less."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def model_for(self, version: ModelVersion) -> Any:
        with self._lock:
            if version.sha256 not in self._models:
                self._models[version.sha256] = load_model(
                    self._local_file(version), sha256=version.sha256
                )
            return self._models[version.sha256]

    @staticmethod
    def _local_file(version: ModelVersion) -> Path:
        folder = Path(settings.MODEL_CACHE_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        local = folder / f"{version.sha256}.skops"
        if not local.exists():
            partial = local.with_suffix(f".{threading.get_ident()}.part")
            with version.artifact.open("rb") as source, partial.open("wb") as target:
                shutil.copyfileobj(source, target)
            partial.replace(local)
        return local


model_cache = _ModelCache()


def warm_up_models() -> int:
    """Load every catalog model into this process's cache, so a new worker process's first
    job does not wait for the libraries and the model (seconds, against milliseconds warm).
    Returns how many were loaded; a model that fails to load is logged and left for later."""
    from .. import selectors

    loaded = 0
    for model in selectors.catalog():
        try:
            model_cache.model_for(model.default_version)
        except Exception:
            logger.exception("could not warm up %s", model.slug)
        else:
            loaded += 1
    return loaded


def _claim(job_id) -> PredictionJob | None:
    """queued -> running, atomically: a redelivered message finds the job taken."""
    now = timezone.now()
    claimed = PredictionJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return PredictionJob.objects.select_related("version__model", "owner").get(pk=job_id)


def _still_wanted(job: PredictionJob, rows_done: int) -> bool:
    """Record progress and heartbeat; False once the customer asked to cancel."""
    PredictionJob.objects.filter(pk=job.pk).update(rows_done=rows_done, heartbeat_at=timezone.now())
    return not PredictionJob.objects.filter(pk=job.pk, cancel_requested=True).exists()


def run_job(*, job_id) -> PredictionJob | None:
    """Run a queued job to its end (the Celery task calls this). Safe to call twice: only the
    call that claims the job runs it. Any failure settles the job as failed and refunds it."""
    job = _claim(job_id)
    if job is None:
        logger.info("job %s is not queued; nothing to do", job_id)
        return None
    try:
        if job.kind == JobKind.SINGLE:
            return _run_single(job)
        return _run_batch(job)
    except Exception as error:
        logger.exception("job %s failed", job.pk)
        code = getattr(error, "code", "worker_error")
        return settle(
            job=job, status=JobStatus.FAILED, rows_done=0, error_code=code, error=str(error)[:2000]
        )


def _run_single(job: PredictionJob) -> PredictionJob:
    version = job.version
    model = model_cache.model_for(version)
    checked = validate_record(job.input or {}, version.input_schema)
    if checked.problems:
        return settle(
            job=job,
            status=JobStatus.FAILED,
            rows_done=0,
            rows_failed=1,
            error_code="invalid_row",
            error="; ".join(problem.message for problem in checked.problems),
        )
    chunks = list(predict_in_chunks(model, checked.frame, task=version.task))
    output = {key: _json_value(value) for key, value in chunks[0].iloc[0].items()}
    if job.explain:
        output["explanation"] = explain_row(
            model,
            checked.frame,
            task=version.model.task,
            classes=version.classes,
            background=version.explainer.get("background"),
        ).to_dict(top=EXPLANATION_TOP)
    return settle(job=job, status=JobStatus.SUCCEEDED, rows_done=1, output=output)


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _batch_inputs(job: PredictionJob, folder: Path) -> tuple[pd.DataFrame, int]:
    """The job's rows as read (a stored file, or the rows sent inline) and the number the
    first of them goes by in error messages."""
    if not job.upload:
        names = [column.name for column in job.version.input_schema.columns]
        return pd.DataFrame(job.input or [], columns=names, dtype="object"), 0
    local = folder / "upload"
    with job.upload.open("rb") as source, local.open("wb") as target:
        shutil.copyfileobj(source, target)
    table = read_table(local, schema=job.version.input_schema, limits=read_limits())
    return table.frame, 2


def _inline_output(predicted: pd.DataFrame, errors: list[str | None]) -> list[dict[str, Any]]:
    """Per row: the prediction columns, and the error (None when predicted)."""
    rows = []
    for position, error in enumerate(errors):
        values = (
            {key: _json_value(value) for key, value in predicted.loc[position].items()}
            if error is None
            else dict.fromkeys(predicted.columns)
        )
        rows.append({**values, "error": error})
    return rows


def _run_batch(job: PredictionJob) -> PredictionJob:
    version = job.version
    model = model_cache.model_for(version)
    with tempfile.TemporaryDirectory() as folder:
        inputs, first_row_number = _batch_inputs(job, Path(folder))
        checked = validate_rows(inputs, version.input_schema, first_row_number=first_row_number)
        PredictionJob.objects.filter(pk=job.pk).update(rows_failed=checked.rows_failed)
        valid_rows = checked.frame[checked.valid]
        predictions = []
        done = 0

        def keep_going(rows: int) -> bool:
            return _still_wanted(job, rows)

        for chunk in predict_in_chunks(
            model,
            valid_rows,
            task=version.task,
            chunk_rows=settings.PREDICT_CHUNK_ROWS,
            keep_going=keep_going,
        ):
            predictions.append(chunk)
            done += len(chunk)
        canceled = done < len(valid_rows)
        predicted = (
            pd.concat(predictions)
            if predictions
            else pd.DataFrame(columns=version.task.prediction_columns())
        )
        errors = checked.errors_by_row()
        if canceled:
            for position in set(valid_rows.index) - set(predicted.index):
                errors[position] = CANCELED_ROW_MESSAGE
        predicted = predicted.reindex(range(len(checked.frame)))
        result = Path(folder) / "result.xlsx"
        write_result(
            result,
            inputs=inputs_for_output(inputs, checked, version.input_schema),
            predictions=predicted,
            errors=errors,
        )
        with result.open("rb") as produced:
            job.result.save("result.xlsx", File(produced), save=False)
        PredictionJob.objects.filter(pk=job.pk).update(result=job.result.name)
    return settle(
        job=job,
        status=JobStatus.CANCELED if canceled else JobStatus.SUCCEEDED,
        rows_done=done,
        rows_failed=checked.rows_failed,
        output=None if job.upload else _inline_output(predicted, errors),
    )


def settle(
    *,
    job: PredictionJob,
    status: str,
    rows_done: int,
    rows_failed: int = 0,
    output: dict | None = None,
    error_code: str = "",
    error: str = "",
) -> PredictionJob:
    """Finish a job once: status, counts, output and the refund of every row not delivered,
    in one transaction under the job's row lock. A finished job is left as it is."""
    with transaction.atomic():
        locked = PredictionJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            return locked
        undelivered = max(0, locked.rows_total - rows_done)
        refund_amount = undelivered * locked.price_per_row
        if refund_amount:
            charge = LedgerEntry.objects.get(reference=_charge_reference(locked))
            billing.refund(
                charge=charge,
                amount=refund_amount,
                reference=f"job:{locked.pk}:refund",
                memo=f"{undelivered} / {locked.rows_total}",
            )
        locked.status = status
        locked.rows_done = rows_done
        locked.rows_failed = rows_failed
        locked.output = output
        locked.error_code = error_code
        locked.error = error
        locked.credits_refunded = refund_amount
        locked.finished_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "rows_done",
                "rows_failed",
                "output",
                "error_code",
                "error",
                "credits_refunded",
                "finished_at",
            ]
        )
        if locked.webhook_url:
            from webhooks import services as webhooks

            transaction.on_commit(lambda: webhooks.job_finished(locked), robust=True)
    return locked


def cancel(*, job: PredictionJob) -> PredictionJob:
    """A queued job ends at once with a full refund; a running one stops at its next chunk
    and is refunded for the rows not predicted. A finished job stays as it is."""
    if job.is_finished:
        return job
    # Both writes are conditional: whichever of the worker and the customer comes first wins.
    canceled_before_start = PredictionJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, cancel_requested=True
    )
    if canceled_before_start:
        return settle(job=job, status=JobStatus.CANCELED, rows_done=0)
    PredictionJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True)
    return PredictionJob.objects.get(pk=job.pk)


def stop_and_refund(*, job: PredictionJob) -> PredictionJob:
    """Staff end a job that will not finish (a stuck run, a lost message) as failed, refunding
    every row: nothing of a job without a result was delivered. A finished job stays."""
    return settle(
        job=job,
        status=JobStatus.FAILED,
        rows_done=0,
        error_code="stopped_by_staff",
        error="Stopped by staff; every row was refunded.",
    )


class NotRerunnable(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("Only a failed job whose input is still kept can be run again."),
            code="not_rerunnable",
        )


def rerun_free(*, job: PredictionJob) -> PredictionJob:
    """Run a failed job again as a new job at no charge (its refund stands): same owner,
    version and input. The new job costs 0 credits, so settling it refunds nothing."""
    if job.status != JobStatus.FAILED or job.data_purged_at or not (job.input or job.upload):
        raise NotRerunnable()
    from ..tasks import run_prediction_job

    with transaction.atomic():
        again = PredictionJob(
            owner=job.owner,
            version=job.version,
            kind=job.kind,
            input=job.input,
            upload_name=job.upload_name,
            rows_total=job.rows_total,
            price_per_row=0,
            cost_charged=0,
            webhook_url=job.webhook_url,
        )
        if job.upload:
            with job.upload.open("rb") as original:
                again.upload.save(job.upload_name or "upload", File(original), save=False)
        again.save(force_insert=True)
        transaction.on_commit(lambda: run_prediction_job.delay(str(again.pk)))
    return again


def fail_silent_jobs(*, silence: timedelta | None = None) -> int:
    """Fail and refund running jobs whose worker stopped beating (killed, lost)."""
    if silence is None:
        silence = timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)
    limit = timezone.now() - silence
    stale = PredictionJob.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    )
    failed = 0
    for job in stale:
        settle(
            job=job,
            status=JobStatus.FAILED,
            rows_done=0,
            error_code="worker_lost",
            error="The worker running this job stopped answering.",
        )
        failed += 1
    return failed


def purge_old_files(*, now=None) -> int:
    """Delete uploads and results older than JOB_FILES_RETENTION_DAYS; the jobs stay and say
    their files were removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.JOB_FILES_RETENTION_DAYS)
    purged = 0
    old = PredictionJob.objects.filter(finished_at__lt=cutoff, data_purged_at__isnull=True).exclude(
        upload="", result=""
    )
    for job in old:
        for stored in (job.upload, job.result):
            if stored:
                stored.storage.delete(stored.name)
        PredictionJob.objects.filter(pk=job.pk).update(upload="", result="", data_purged_at=now)
        purged += 1
    return purged
