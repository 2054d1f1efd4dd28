"""Datasets: a customer's training table, read with the same guards as prediction uploads,
its schema suggested, revised and confirmed, and its exploration computed once on a worker."""

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from accounts.models import User
from mfdp.errors import InvalidInput
from predictions.ml.errors import MLError
from predictions.ml.profiling import DatasetSchema, profile, revise_schema, suggest_schema
from predictions.ml.profiling import training_table as build_training_table
from predictions.ml.reading import read_table
from predictions.services.jobs import read_limits

from ..models import Dataset, ProfileStatus
from .errors import customer_error

logger = logging.getLogger(__name__)

NAME_MAX = 120


def _copy_to(upload, local: Path) -> str:
    """Copy an uploaded file to `local`; returns its sha256."""
    digest = hashlib.sha256()
    with local.open("wb") as copy:
        for chunk in upload.chunks():
            digest.update(chunk)
            copy.write(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _read_frame(local: Path):
    try:
        return read_table(local, limits=read_limits()).frame
    except MLError as error:
        raise customer_error(error) from error


@contextmanager
def _local_copy(dataset: Dataset) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "dataset"
        with dataset.upload.open("rb") as source, local.open("wb") as target:
            shutil.copyfileobj(source, target)
        yield local


def dataset_frame(dataset: Dataset):
    """The stored table as read (raw cells, one object column per header)."""
    with _local_copy(dataset) as local:
        return _read_frame(local)


def _dataset_name(name: str, filename: str) -> str:
    chosen = (name or "").strip() or Path(filename or "dataset").stem or "dataset"
    return chosen[:NAME_MAX]


def dataset_upload(*, user: User, upload, filename: str, target: str, name: str = "") -> Dataset:
    """Store a training table once it reads (type by content, size, zip guards, encodings,
    row limit) and its target passes the checks; the suggested schema awaits confirmation.
    A refused file leaves nothing stored and costs nothing."""
    target = (target or "").strip()
    if not target:
        raise InvalidInput(_("Name the target column."), code="target_required")
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "upload"
        sha256 = _copy_to(upload, local)
        frame = _read_frame(local)
        try:
            schema = suggest_schema(frame, target=target)
        except MLError as error:
            raise customer_error(error) from error
        dataset = Dataset(
            owner=user,
            name=_dataset_name(name, filename),
            upload_name=get_valid_filename(Path(filename or "upload").name)[:200] or "upload",
            size_bytes=local.stat().st_size,
            file_sha256=sha256,
            rows=len(frame),
            target=schema.target,
            schema=schema.to_dict(),
        )
        with local.open("rb") as stored:
            dataset.upload.save(dataset.upload_name, File(stored), save=False)
        dataset.save(force_insert=True)
    return dataset


def dataset_schema(dataset: Dataset) -> DatasetSchema:
    return DatasetSchema.from_dict(dataset.schema)


def dataset_revise(
    *,
    dataset: Dataset,
    types: dict[str, str] | None = None,
    ignored: list[str] | None = None,
    task: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Apply the customer's choices to the schema. A revised schema needs confirming again,
    and its exploration is computed again."""
    try:
        revised = revise_schema(
            dataset_frame(dataset), dataset_schema(dataset), types=types, ignored=ignored, task=task
        )
    except MLError as error:
        raise customer_error(error) from error
    dataset.schema = revised.to_dict()
    if name is not None and name.strip():
        dataset.name = name.strip()[:NAME_MAX]
    dataset.confirmed_at = None
    dataset.profile = None
    dataset.profile_status = ProfileStatus.PENDING
    dataset.profile_progress = 0
    dataset.profile_error = ""
    dataset.save()
    return dataset


def dataset_confirm(*, dataset: Dataset) -> Dataset:
    """Freeze the schema for training and queue the exploration on a worker (once)."""
    from ..tasks import profile_dataset

    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if locked.is_confirmed:
            return locked
        locked.confirmed_at = timezone.now()
        locked.profile_status = ProfileStatus.QUEUED
        locked.profile_progress = 0
        locked.save(update_fields=["confirmed_at", "profile_status", "profile_progress"])
        transaction.on_commit(lambda: profile_dataset.delay(str(locked.pk)))
    return locked


def dataset_delete(*, dataset: Dataset) -> None:
    """Remove the table and its file. Trainings keep its name and checksum; the models they
    produced stay usable."""
    name = dataset.upload.name
    storage = dataset.upload.storage
    dataset.delete()
    if name:
        transaction.on_commit(lambda: storage.delete(name))


def _profile_progress(dataset_id, done: int, total: int) -> None:
    percent = min(99, round(100 * done / max(total, 1)))
    Dataset.objects.filter(pk=dataset_id).update(profile_progress=percent)


def compute_profile(*, dataset_id) -> Dataset | None:
    """The exploration figures, computed on a worker. Only a call that moves
    the dataset to running computes; a failure is recorded, never raised. A message
    redelivered after its worker died finds the dataset running and computes it again: the
    figures cost no credits and the last write wins."""
    claimed = Dataset.objects.filter(
        pk=dataset_id, profile_status__in=[ProfileStatus.QUEUED, ProfileStatus.RUNNING]
    ).update(profile_status=ProfileStatus.RUNNING)
    if not claimed:
        return None
    dataset = Dataset.objects.get(pk=dataset_id)
    running = Dataset.objects.filter(pk=dataset.pk, profile_status=ProfileStatus.RUNNING)
    try:
        table = build_training_table(dataset_frame(dataset), dataset_schema(dataset))
        figures = profile(
            table, progress=lambda done, total: _profile_progress(dataset.pk, done, total)
        )
    except Exception as error:  # recorded for the customer and staff, never a crash loop
        logger.exception("exploration of dataset %s failed", dataset.pk)
        message = customer_error(error).message if isinstance(error, MLError) else ""
        running.update(
            profile_status=ProfileStatus.FAILED,
            profile_error=message or _("The exploration could not be computed."),
        )
    else:
        # Only if still wanted: a schema revised (or a dataset deleted) meanwhile discards it.
        running.update(profile=figures, profile_status=ProfileStatus.READY, profile_progress=100)
    return Dataset.objects.filter(pk=dataset.pk).first()
