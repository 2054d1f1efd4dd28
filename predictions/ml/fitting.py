"""Training a customer's model: split the rows, fit the chosen algorithm, measure it on the
held-out rows, explain which columns matter, and save it as a skops file.

Reproducible like the default models (see training.py): the split and every estimator take
the seed, fitting runs on one BLAS/OpenMP thread and the file is written canonically, so the
same rows, hyperparameters and seed give the same metrics and the same file on any machine.
Tree models grow in chunks so a long training reports progress and can be stopped; growing
with warm_start builds exactly the trees one fit would.

Imports nothing of Django: the worker task is the door.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from . import training
from .algorithms import Algorithm
from .errors import MLError
from .explaining import feature_means
from .schema import InputSchema
from .training import CLASSIFICATION, _round, _thin

STAGES = ("split", "fit", "evaluate", "save")
FIT_CHUNKS = 10
MIN_ROWS = 10
CURVE_MAX_POINTS = 100
SCATTER_MAX_POINTS = 300
HISTOGRAM_BINS = 20
IMPORTANCE_MAX_ROWS = 2000
IMPORTANCE_REPEATS = 3
CURVE_DECIMALS = 4

Step = Callable[[str, float], None]
ShouldStop = Callable[[], bool]


class TrainingStopped(Exception):
    """The customer (or the operator) asked to stop; nothing was saved."""


@dataclass(frozen=True)
class TrainedModel:
    sha256: str
    trusted_types: list[str]
    task: str
    classes: list[str]  # classification: in predict_proba column order
    metrics: dict[str, Any]
    curves: dict[str, Any]
    feature_importance: list[dict[str, Any]]  # one entry per schema column used, largest first
    background: list[float] | None  # linear models: mean transformed training row
    record: dict[str, Any]


@dataclass(frozen=True)
class _Split:
    x_train: pd.DataFrame
    y_train: np.ndarray
    x_test: pd.DataFrame
    y_test: np.ndarray
    description: str


def fit_and_evaluate(
    frame: pd.DataFrame,
    *,
    schema: InputSchema,
    target: str,
    task: str,
    algorithm: Algorithm,
    params: dict[str, Any],
    seed: int,
    out_path: Path,
    data_sha256: str,
    step: Step = lambda stage, fraction: None,
    should_stop: ShouldStop = lambda: False,
) -> TrainedModel:
    """Train `algorithm` on `frame` (typed as validate_rows types it, plus `target`) and
    save it to `out_path`. `step(stage, fraction)` reports progress within each of STAGES;
    `should_stop()` is asked between stages and between chunks of trees, and True raises
    TrainingStopped. Impossible trainings raise MLError with a stable code."""
    params = algorithm.validate(params)
    columns = algorithm.columns(schema)
    durations: dict[str, float] = {}

    with _stage("split", durations, step, should_stop):
        split = _split(frame, columns.names, target, task, seed)
        _check_classes(split, task, algorithm)

    pipeline = algorithm.build(columns, params, seed=seed)
    with _stage("fit", durations, step, should_stop), threadpool_limits(limits=1):
        features = _fit(pipeline, split, algorithm, step, should_stop)

    with _stage("evaluate", durations, step, should_stop), threadpool_limits(limits=1):
        classes, metrics, curves = _evaluate(pipeline, split, task, seed)
        importance = _feature_importance(pipeline, algorithm, split, features, seed)
        background = feature_means(features) if algorithm.explanation != "tree" else None

    with _stage("save", durations, step, should_stop):
        sha256, trusted_types = training.save_model(
            pipeline,
            out_path,
            check_rows=split.x_test.head(200),
            task=task,
            compresslevel=training.QUICK_COMPRESSION,
        )

    return TrainedModel(
        sha256=sha256,
        trusted_types=trusted_types,
        task=task,
        classes=classes,
        metrics=metrics,
        curves=curves,
        feature_importance=importance,
        background=background,
        record={
            "algorithm": algorithm.name,
            "task": task,
            "target": target,
            "hyperparameters": params,
            "seed": seed,
            "split": split.description,
            "rows": {"train": len(split.x_train), "test": len(split.x_test)},
            "columns": columns.names,
            "data_sha256": data_sha256,
            "libraries": training.library_versions(),
            "durations": durations,
        },
    )


@contextmanager
def _stage(
    name: str, durations: dict[str, float], step: Step, should_stop: ShouldStop
) -> Iterator[None]:
    _stop_if_asked(should_stop)
    step(name, 0.0)
    started = time.perf_counter()
    yield
    durations[name] = round(time.perf_counter() - started, 3)
    step(name, 1.0)


def _stop_if_asked(should_stop: ShouldStop) -> None:
    if should_stop():
        raise TrainingStopped


# --- split ------------------------------------------------------------------------------------


def _split(frame: pd.DataFrame, features: list[str], target: str, task: str, seed: int) -> _Split:
    if len(frame) < MIN_ROWS:
        raise MLError(
            f"Training needs at least {MIN_ROWS} rows; the table has {len(frame)}.",
            code="too_few_rows",
            rows=len(frame),
            minimum=MIN_ROWS,
        )
    missing = int(frame[target].isna().sum())
    if missing:
        raise MLError(
            f"{missing} rows have no value in the target column {target!r}.",
            code="missing_target",
            target=target,
            rows=missing,
        )
    y = frame[target].astype(str if task == CLASSIFICATION else float).to_numpy()
    stratify = y if task == CLASSIFICATION and _can_stratify(y) else None
    x_train, x_test, y_train, y_test = train_test_split(
        frame[features], y, test_size=training.TEST_SIZE, random_state=seed, stratify=stratify
    )
    how = "stratified random" if stratify is not None else "random"
    return _Split(
        x_train.reset_index(drop=True),
        y_train,
        x_test.reset_index(drop=True),
        y_test,
        f"{how} {1 - training.TEST_SIZE:.0%} / {training.TEST_SIZE:.0%} train/test split, "
        f"seed {seed}",
    )


def _can_stratify(y: np.ndarray) -> bool:
    """Stratifying needs two rows of every class and room for each class on both sides;
    without it the split is plain random rather than a failed training."""
    counts = pd.Series(y).value_counts()
    test_rows = math.ceil(len(y) * training.TEST_SIZE)
    return counts.min() >= 2 and len(counts) <= min(test_rows, len(y) - test_rows)


def _check_classes(split: _Split, task: str, algorithm: Algorithm) -> None:
    if task != CLASSIFICATION:
        return
    for part, labels in (("train", split.y_train), ("test", split.y_test)):
        if len(set(labels)) < 2:
            raise MLError(
                f"The {part} rows hold a single class; a classifier needs at least two.",
                code="single_class",
                split=part,
            )
    counts = pd.Series(split.y_train).value_counts()
    scarce = sorted(counts[counts < algorithm.min_rows_per_class].index)
    if scarce:
        raise MLError(
            f"{algorithm.name} needs at least {algorithm.min_rows_per_class} training rows of "
            f"each class; too few of: {', '.join(scarce)}.",
            code="too_few_rows_per_class",
            algorithm=algorithm.name,
            minimum=algorithm.min_rows_per_class,
            classes=scarce,
        )


# --- fit --------------------------------------------------------------------------------------


def _fit(
    pipeline: Pipeline, split: _Split, algorithm: Algorithm, step: Step, should_stop: ShouldStop
) -> Any:
    """Fit the pipeline's steps as Pipeline.fit would; return the transformed training rows
    (the explanations need them)."""
    features = pipeline.named_steps["prepare"].fit_transform(split.x_train, split.y_train)
    model = pipeline.named_steps["model"]
    if algorithm.growth_parameter is None:
        model.fit(features, split.y_train)
        return features
    total = model.get_params()[algorithm.growth_parameter]
    model.set_params(warm_start=True)
    for size in growth_sizes(total):
        _stop_if_asked(should_stop)
        model.set_params(**{algorithm.growth_parameter: size})
        model.fit(features, split.y_train)
        step("fit", size / total)
    # The saved model then looks like one fitted in one go.
    model.set_params(warm_start=False)
    return features


def growth_sizes(total: int, chunks: int = FIT_CHUNKS) -> list[int]:
    """The model sizes to grow through: about `chunks` even steps ending at `total`."""
    return sorted({math.ceil(total * chunk / chunks) for chunk in range(1, chunks + 1)})


# --- evaluate ---------------------------------------------------------------------------------


def _evaluate(
    pipeline: Pipeline, split: _Split, task: str, seed: int
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    if task == CLASSIFICATION:
        classes = [str(label) for label in pipeline.classes_]
        probabilities = np.asarray(pipeline.predict_proba(split.x_test))
        metrics = classification_metrics(split.y_test, probabilities, classes)
        curves = classification_curves(split.y_test, probabilities, classes)
    else:
        classes = []
        predicted = np.asarray(pipeline.predict(split.x_test), dtype=float)
        metrics = training.regression_metrics(split.y_test, predicted)
        curves = regression_curves(split.y_test, predicted, seed=seed)
    metrics["headline"] = training.headline(task, metrics)
    return classes, metrics, curves


def classification_metrics(
    actual: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """Binary: as for the default models, about the last class. Multiclass: F1 and ROC AUC
    one-vs-rest, macro-averaged over the classes the held-out rows contain (a rare class may
    have none there, and its AUC is undefined)."""
    if len(classes) == 2:
        metrics = training.classification_metrics(actual, probabilities, classes, classes[-1])
        del metrics["roc_curve"]  # the curves carry it, with more points
        return metrics
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    present = [index for index, label in enumerate(classes) if label in set(actual)]
    auc = np.mean(
        [roc_auc_score(actual == classes[index], probabilities[:, index]) for index in present]
    )
    return {
        "roc_auc": _round(auc),
        "accuracy": _round(accuracy_score(actual, predicted)),
        "f1": _round(f1_score(actual, predicted, average="macro", zero_division=0)),
        "log_loss": _round(log_loss(actual, probabilities, labels=classes)),
        "test_rows": len(actual),
    }


def classification_curves(
    actual: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """ROC and precision-recall for the positive (last) class, or per class present in the
    held-out rows when there are more than two; and the confusion matrix."""
    if len(classes) == 2:
        roc, precision_recall = _class_curves(actual == classes[-1], probabilities[:, -1])
    else:
        roc, precision_recall = {}, {}
        for index, label in enumerate(classes):
            if label in set(actual):
                roc[label], precision_recall[label] = _class_curves(
                    actual == label, probabilities[:, index]
                )
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    matrix = confusion_matrix(actual, predicted, labels=classes)
    return {
        "roc": roc,
        "precision_recall": precision_recall,
        "confusion_matrix": {"labels": classes, "matrix": matrix.tolist()},
    }


def _class_curves(
    is_class: np.ndarray, scores: np.ndarray
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    fpr, tpr, _ = roc_curve(is_class, scores)
    precision, recall, _ = precision_recall_curve(is_class, scores)
    return (
        {"fpr": _thinned(fpr), "tpr": _thinned(tpr)},
        {"recall": _thinned(recall), "precision": _thinned(precision)},
    )


def _thinned(values: np.ndarray) -> list[float]:
    keep = _thin(values, CURVE_MAX_POINTS)
    return [round(float(value), CURVE_DECIMALS) for value in values[keep]]


def regression_curves(actual: np.ndarray, predicted: np.ndarray, *, seed: int) -> dict[str, Any]:
    """A seeded sample of held-out rows for the scatter plots (every point is drawn), and the
    histogram of every residual."""
    shown = np.arange(len(actual))
    if len(shown) > SCATTER_MAX_POINTS:
        rng = np.random.RandomState(seed)
        shown = np.sort(rng.choice(shown, SCATTER_MAX_POINTS, replace=False))
    residuals = actual - predicted
    counts, edges = np.histogram(residuals, bins=HISTOGRAM_BINS)
    return {
        "predicted_vs_actual": {
            "actual": _floats(actual[shown]),
            "predicted": _floats(predicted[shown]),
        },
        "residuals": {
            "predicted": _floats(predicted[shown]),
            "residual": _floats(residuals[shown]),
        },
        "residual_histogram": {"edges": _floats(edges), "counts": counts.tolist()},
    }


def _floats(values: np.ndarray) -> list[float]:
    return [_round(value) for value in values]


# --- explanations -----------------------------------------------------------------------------


def _feature_importance(
    pipeline: Pipeline, algorithm: Algorithm, split: _Split, features: Any, seed: int
) -> list[dict[str, Any]]:
    """How much each schema column matters, normalised to sum 1 (all zero when nothing
    matters). Linear models: |coefficient| x spread of each transformed feature, summed per
    column. Forests: the impurity decrease of each column's features (free: the forest
    keeps it). Boosting: the loss of score when a column is shuffled on held-out rows."""
    model = pipeline.named_steps["model"]
    if algorithm.explanation != "tree":
        by_column = _per_column(pipeline, _linear_weights(model) * _spread(features))
    elif hasattr(model, "feature_importances_"):
        by_column = _per_column(pipeline, np.asarray(model.feature_importances_))
    else:
        by_column = _permutation_importance(pipeline, split, seed)
    total = sum(by_column.values())
    ranked = sorted(by_column.items(), key=lambda item: (-item[1], item[0]))
    return [
        {"feature": name, "importance": _round(value / total if total > 0 else 0.0)}
        for name, value in ranked
    ]


def _permutation_importance(pipeline: Pipeline, split: _Split, seed: int) -> dict[str, float]:
    x, y = split.x_test, split.y_test
    if len(x) > IMPORTANCE_MAX_ROWS:
        sample = np.sort(np.random.RandomState(seed).choice(len(x), IMPORTANCE_MAX_ROWS, False))
        x, y = x.iloc[sample], y[sample]
    result = permutation_importance(pipeline, x, y, n_repeats=IMPORTANCE_REPEATS, random_state=seed)
    # A column whose shuffling helps by chance matters no more than one that does nothing.
    return {
        name: max(float(value), 0.0)
        for name, value in zip(x.columns, result.importances_mean, strict=True)
    }


def _per_column(pipeline: Pipeline, values: np.ndarray) -> dict[str, float]:
    """Per-transformed-feature values summed back to the schema column they came from."""
    prepare = pipeline.named_steps["prepare"]
    columns = {name for name, _, _ in prepare.transformers}
    return {
        name: float(values[where].sum())
        for name, where in prepare.output_indices_.items()
        if name in columns
    }


def _linear_weights(model: Any) -> np.ndarray:
    """Per transformed feature, how strongly the model's output moves with it."""
    if isinstance(model, CalibratedClassifierCV):
        model = model.calibrated_classifiers_[0].estimator
    if isinstance(model, MultinomialNB):
        # Naive Bayes weighs a term by how its log-probability differs between classes.
        log_probabilities = model.feature_log_prob_
        return np.abs(log_probabilities - log_probabilities.mean(axis=0)).mean(axis=0)
    return np.abs(np.atleast_2d(model.coef_)).mean(axis=0)


def _spread(features: Any) -> np.ndarray:
    """Standard deviation of every transformed feature, without densifying sparse TF-IDF."""
    if scipy.sparse.issparse(features):
        mean = np.asarray(features.mean(axis=0)).ravel()
        mean_square = np.asarray(features.multiply(features).mean(axis=0)).ravel()
        return np.sqrt(np.maximum(mean_square - mean**2, 0.0))
    return np.asarray(features, dtype=float).std(axis=0)
