"""Loading model files safely and predicting with them.

A model file is loaded only if it is a skops file, its sha256 is the one the registry wrote
when the file was saved, and every type in it is on TRUSTED_TYPES. skops is only as safe as
that list, and a crafted tree file can still crash the process, hence the checksum: we load
only the bytes we made. Pickle and joblib files are refused before anything reads them.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ArtifactError

# Types a default or staff-uploaded model may contain beyond what skops trusts by itself.
# Widen it only with types whose loading runs no code of the file's choosing.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    # The probability calibration customers' linear SVMs are trained with (plain sklearn
    # estimators, private to sklearn.calibration).
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)

DEFAULT_CHUNK_ROWS = 5_000
CHUNK_HASH_BUFFER = 2**20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_HASH_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def _require_skops_file(path: Path) -> None:
    with path.open("rb") as file:
        head = file.read(4)
    if head[:1] == b"\x80" or head[:2] in (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x1f\x8b"):
        raise ArtifactError(
            "This is a pickle or joblib file; only skops files are accepted.", code="pickle_refused"
        )
    if head != b"PK\x03\x04":
        raise ArtifactError("This is not a skops model file.", code="not_skops")
    try:
        with zipfile.ZipFile(path) as archive:
            if "schema.json" not in archive.namelist():
                raise ArtifactError("This is not a skops model file.", code="not_skops")
    except zipfile.BadZipFile as error:
        raise ArtifactError("The model file is damaged.", code="broken_artifact") from error


def untrusted_types(path: Path) -> list[str]:
    """Types in the file that neither skops nor TRUSTED_TYPES trust (empty: loadable)."""
    import skops.io  # here, not above: the web process needs it only to check a file

    _require_skops_file(path)
    try:
        found = skops.io.get_untrusted_types(file=path)
    except Exception as error:
        raise ArtifactError("The model file is damaged.", code="broken_artifact") from error
    return sorted(set(found) - set(TRUSTED_TYPES))


def load_model(path: Path, *, sha256: str) -> Any:
    """The estimator in the skops file at `path`, after the checks described above."""
    if not path.is_file():
        raise ArtifactError("The model file is missing.", code="missing_artifact")
    actual = sha256_of(path)
    if actual != sha256:
        raise ArtifactError(
            "The model file does not match the registry (sha256 differs).",
            code="checksum_mismatch",
            expected=sha256,
            actual=actual,
        )
    refused = untrusted_types(path)
    if refused:
        raise ArtifactError(
            "The model file holds types that are not trusted: " + ", ".join(refused),
            code="untrusted_types",
            types=refused,
        )
    import skops.io

    try:
        return skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as error:
        raise ArtifactError("The model file cannot be loaded.", code="broken_artifact") from error


@dataclass(frozen=True)
class ModelTask:
    """What a version predicts: 'regression', or 'classification' with its classes in the
    order of the estimator's predict_proba columns."""

    kind: str
    classes: tuple[str, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    def prediction_columns(self) -> list[str]:
        if not self.is_classification:
            return ["prediction"]
        return ["prediction", *(f"probability {label}" for label in self.classes)]


def predict(model: Any, frame: pd.DataFrame, *, task: ModelTask) -> pd.DataFrame:
    """Prediction columns for every row of `frame` (typed and valid rows only)."""
    if frame.empty:
        return pd.DataFrame(columns=task.prediction_columns())
    if not task.is_classification:
        values = np.asarray(model.predict(frame), dtype="float64")
        return pd.DataFrame({"prediction": values}, index=frame.index)
    probabilities = np.asarray(model.predict_proba(frame), dtype="float64")
    labels = np.asarray(task.classes, dtype=object)
    result = {"prediction": labels[probabilities.argmax(axis=1)]}
    for position, label in enumerate(task.classes):
        result[f"probability {label}"] = probabilities[:, position]
    return pd.DataFrame(result, index=frame.index)


def predict_in_chunks(
    model: Any,
    frame: pd.DataFrame,
    *,
    task: ModelTask,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    keep_going: Callable[[int], bool] | None = None,
) -> Iterator[pd.DataFrame]:
    """Predict `chunk_rows` rows at a time, yielding each chunk's predictions. After each
    chunk, `keep_going(rows_done)` may say stop (a canceled job): the iteration ends there."""
    done = 0
    for start in range(0, len(frame), chunk_rows):
        chunk = predict(model, frame.iloc[start : start + chunk_rows], task=task)
        done += len(chunk)
        yield chunk
        if keep_going is not None and not keep_going(done):
            return


def check_artifact(path: Path, *, sha256: str, schema: dict[str, Any], task: ModelTask) -> None:
    """Prove a model file is usable before it enters the registry: it loads under the trusted
    list, and predicts the schema's example row with the promised output."""
    from .schema import InputSchema
    from .validation import validate_rows

    input_schema = InputSchema.from_dict(schema)
    model = load_model(path, sha256=sha256)
    example = pd.DataFrame([input_schema.example_row()], dtype="object")
    checked = validate_rows(example, input_schema)
    if not checked.valid.all():
        raise ArtifactError(
            "The schema's example row does not pass its own rules: "
            + "; ".join(problem.message for problem in checked.problems),
            code="bad_example",
        )
    if task.is_classification:
        learned = [str(label) for label in getattr(model, "classes_", [])]
        if learned != list(task.classes):
            raise ArtifactError(
                f"The model's classes are {learned}, not {list(task.classes)}.",
                code="classes_mismatch",
            )
    try:
        predict(model, checked.frame, task=task)
    except Exception as error:
        raise ArtifactError(
            f"The model cannot predict the example row: {type(error).__name__}: {error}"[:500],
            code="cannot_predict",
        ) from error


def check_artifacts(candidates: list[tuple[str, str, dict[str, Any], str, list[str]]]) -> None:
    """check_artifact for (path, sha256, schema, task kind, classes) tuples; meant to run in a
    child process, so that a crafted file can crash only that process."""
    for path, sha256, schema, kind, classes in candidates:
        check_artifact(
            Path(path), sha256=sha256, schema=schema, task=ModelTask(kind, tuple(classes))
        )
