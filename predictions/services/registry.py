"""Writes and rules of the model registry: versions enter only through version_create, which
proves the file safe and usable first; the default models enter through register_manifest."""

import json
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from mfdp.errors import DomainError, InvalidInput

from ..ml.errors import MLError
from ..ml.inference import check_artifacts, sha256_of, untrusted_types
from ..ml.schema import InputSchema
from ..models import MLModel, ModelVersion, Task

ARTIFACT_CHECK_SECONDS = 180


class ModelVersionRefused(DomainError):
    code = "model_version_refused"


# What this process has already seen pass the check: the same bytes (sha256) with the same
# schema, task and classes pass it again, so they are not loaded a second time.
_passed_checks: set[str] = set()


def _check_key(candidate: tuple[str, str, dict, str, list[str]]) -> str:
    path, sha256, schema, task, classes = candidate
    # The bytes as they are now, not only as claimed: a changed file is checked again.
    actual = sha256_of(Path(path))
    return json.dumps([actual, sha256, schema, task, list(classes)], sort_keys=True, default=str)


def _check_in_child_process(candidates: list[tuple[str, str, dict, str, list[str]]]) -> None:
    """Load and try each file in a separate process: a crafted file may crash that process,
    never the web server. The fork server keeps the ML libraries imported, so a check costs
    a fork, not a Python start-up."""
    keys = [_check_key(candidate) for candidate in candidates]
    unseen = [
        (key, candidate)
        for key, candidate in zip(keys, candidates, strict=True)
        if key not in _passed_checks
    ]
    if unseen:
        _run_checks([candidate for _key, candidate in unseen])
        _passed_checks.update(key for key, _candidate in unseen)


def _run_checks(candidates: list[tuple[str, str, dict, str, list[str]]]) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["predictions.ml.inference"])
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            pool.submit(check_artifacts, candidates).result(timeout=ARTIFACT_CHECK_SECONDS)
        except MLError as error:
            raise ModelVersionRefused(error.message, code=error.code) from error
        except BrokenProcessPool as error:
            raise ModelVersionRefused(
                _("Loading the model file crashed the checking process: it is refused."),
                code="artifact_crashed",
            ) from error
        except TimeoutError as error:
            raise ModelVersionRefused(
                _("Checking the model file took too long: it is refused."),
                code="artifact_timeout",
            ) from error


def _check_types(path: Path) -> None:
    """A file this process made and already loaded back and tried (fitting's save_model)
    needs only the proof that it loads under the trusted-types list, which its schema
    tells without loading the model again."""
    try:
        refused = untrusted_types(path)
    except MLError as error:
        raise ModelVersionRefused(error.message, code=error.code) from error
    if refused:
        raise ModelVersionRefused(
            _("The model file holds types that are not trusted: %(types)s")
            % {"types": ", ".join(refused)},
            code="untrusted_types",
        )


def _parsed_schema(schema: Any) -> dict:
    try:
        return InputSchema.from_dict(schema).to_dict()
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ModelVersionRefused(
            _("The input schema is not valid: %(error)s") % {"error": error}, code="bad_schema"
        ) from error


def _version_fields(
    model: MLModel,
    *,
    schema: Any,
    target: str,
    classes: list[str],
    price_per_row: int,
) -> tuple[dict, list[str]]:
    if isinstance(price_per_row, bool) or not isinstance(price_per_row, int) or price_per_row < 1:
        raise InvalidInput(_("The price per row is a whole number of credits, at least 1."))
    classes = [str(label) for label in classes or []]
    if model.task == Task.CLASSIFICATION and len(classes) < 2:
        raise ModelVersionRefused(
            _("A classification model needs its classes, in predict_proba order."),
            code="classes_missing",
        )
    if not target.strip():
        raise InvalidInput(_("Name the target the model predicts."))
    return _parsed_schema(schema), classes


def version_create(
    *,
    model: MLModel,
    artifact: File,
    schema: Any,
    target: str,
    price_per_row: int,
    classes: list[str] | None = None,
    metrics: dict | None = None,
    training: dict | None = None,
    plot_svg: str = "",
    number: int | None = None,
    is_active: bool = True,
    curves: dict | None = None,
    feature_importance: list | None = None,
    explainer: dict | None = None,
    made_here: bool = False,
) -> ModelVersion:
    """Add a version of `model` from an uploaded skops file. Refused (ModelVersionRefused)
    unless the file loads under the trusted-types list in a child process and predicts the
    schema's example row. The first version becomes the model's default.

    `made_here`: the file was just written, loaded back and tried by this process (a
    customer's training on a worker: fitting's save_model), so no crafted bytes can crash
    it; only its types are checked, in place. A Celery prefork pool process is a daemon and
    may not start the checking process anyway."""
    schema, classes = _version_fields(
        model, schema=schema, target=target, classes=classes or [], price_per_row=price_per_row
    )
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "candidate.skops"
        with local.open("wb") as copy:
            for chunk in artifact.chunks():
                copy.write(chunk)
        sha256 = sha256_of(local)
        candidate = (str(local), sha256, schema, model.task, classes)
        if made_here:
            _check_types(local)
        else:
            _check_in_child_process([candidate])
        with transaction.atomic():
            MLModel.objects.select_for_update().get(pk=model.pk)
            if number is None:
                number = (model.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = ModelVersion(
                model=model,
                number=number,
                sha256=sha256,
                schema=schema,
                target=target.strip(),
                classes=classes,
                metrics=metrics or {},
                training=training or {},
                plot_svg=plot_svg,
                price_per_row=price_per_row,
                is_active=is_active,
                curves=curves or {},
                feature_importance=feature_importance or [],
                explainer=explainer or {},
            )
            with local.open("rb") as stored:
                version.artifact.save("model.skops", File(stored), save=False)
            version.save()
            if model.default_version_id is None and is_active:
                MLModel.objects.filter(pk=model.pk).update(default_version=version)
    return version


def version_update(*, version: ModelVersion, price_per_row: int, is_active: bool) -> ModelVersion:
    """Reprice or (de)activate a version. A deactivated default hands over to the newest
    active version; a version is never deleted (jobs refer to it)."""
    if isinstance(price_per_row, bool) or not isinstance(price_per_row, int) or price_per_row < 1:
        raise InvalidInput(_("The price per row is a whole number of credits, at least 1."))
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(pk=version.model_id)
        ModelVersion.objects.filter(pk=version.pk).update(
            price_per_row=price_per_row, is_active=is_active
        )
        if not is_active and model.default_version_id == version.pk:
            model.default_version = (
                model.versions.filter(is_active=True).order_by("-number").first()
            )
            model.save(update_fields=["default_version", "updated_at"])
        elif is_active and model.default_version_id is None:
            model.default_version = version
            model.save(update_fields=["default_version", "updated_at"])
    version.refresh_from_db()
    return version


def model_set_default_version(*, version: ModelVersion) -> MLModel:
    if not version.is_active:
        raise InvalidInput(_("Activate the version before making it the default."))
    model = version.model
    model.default_version = version
    model.save(update_fields=["default_version", "updated_at"])
    return model


def model_publish(*, model: MLModel, published: bool) -> MLModel:
    """Show or hide a model in the catalog; only a model with an active default version
    can be shown."""
    if published and (model.default_version is None or not model.default_version.is_active):
        raise InvalidInput(
            _("%(model)s has no active default version to publish.") % {"model": model.slug}
        )
    model.is_published = published
    model.save(update_fields=["is_published", "updated_at"])
    return model


def register_manifest(*, folder: Path) -> list[ModelVersion]:
    """Register every model of `folder`/manifest.json (the default models). Idempotent: a
    version already registered with the same sha256 is left alone; one with other bytes under
    the same number is refused (a new file must be a new version)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    entries = manifest["models"]
    registered = []
    new_entries = []
    for entry in entries:
        existing = ModelVersion.objects.filter(
            model__slug=entry["slug"], number=entry["version"]
        ).first()
        if existing is None:
            new_entries.append(entry)
        elif existing.sha256 != entry["sha256"]:
            raise ModelVersionRefused(
                _(
                    "%(slug)s v%(number)d is registered with other bytes; "
                    "give the file a new version."
                )
                % {"slug": entry["slug"], "number": entry["version"]},
                code="version_conflict",
            )
        else:
            registered.append(existing)
    if not new_entries:
        return registered
    # One child process checks them all: the same safety, one start-up.
    _check_in_child_process(
        [
            (str(folder / e["file"]), e["sha256"], e["schema"], e["task"], e.get("classes", []))
            for e in new_entries
        ]
    )
    for entry in new_entries:
        registered.append(_register_entry(folder, entry))
    return registered


def _register_entry(folder: Path, entry: dict) -> ModelVersion:
    model, _created = MLModel.objects.update_or_create(
        slug=entry["slug"],
        defaults={
            "name_en": entry["name"]["en"],
            "name_ru": entry["name"]["ru"],
            "description_en": entry["description"]["en"],
            "description_ru": entry["description"]["ru"],
            "task": entry["task"],
        },
    )
    plot = folder / entry["plot"] if entry.get("plot") else None
    schema, classes = _version_fields(
        model,
        schema=entry["schema"],
        target=entry["target"],
        classes=entry.get("classes", []),
        price_per_row=entry["price_per_row"],
    )
    with transaction.atomic():
        version = ModelVersion(
            model=model,
            number=entry["version"],
            sha256=entry["sha256"],
            schema=schema,
            target=entry["target"],
            classes=classes,
            metrics=entry.get("metrics", {}),
            training=entry.get("training", {}),
            plot_svg=plot.read_text() if plot and plot.is_file() else "",
            price_per_row=entry["price_per_row"],
        )
        with (folder / entry["file"]).open("rb") as artifact:
            version.artifact.save("model.skops", File(artifact), save=False)
        version.save()
        newest = model.versions.filter(is_active=True).order_by("-number").first()
        model.default_version = newest
        model.is_published = True
        model.save(update_fields=["default_version", "is_published", "updated_at"])
    return version
