"""Explaining one prediction: how much each input column (or, for text, each word) moved the
model's output away from a base value.

Every explanation is additive: `base_value + sum(contributions) == output_value`, and
`output_value` is the model's own raw output for the explained class (a regression's value,
a binary classifier's log-odds, a multiclass classifier's per-class score, a forest's
probability). Linear models are explained exactly from their weights; tree ensembles by
SHAP's TreeExplainer (exact for trees, path-dependent, so no background data is needed).

A pipeline is `Pipeline([("prepare", ColumnTransformer), ("model", estimator)])` as
`training.preprocessor` builds it: each transformer is named after the schema column it reads,
which is how transformed features are summed back to the columns a customer typed in.

Imports nothing of Django; shap is imported only when a tree model is explained (it takes
seconds to import).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from .errors import MLError
from .training import CLASSIFICATION, REGRESSION

LINEAR = "linear"
TREE_SHAP = "tree_shap"
TOKEN_WEIGHTS = "token_weights"

VALUE = "value"
LOG_ODDS = "log_odds"
PROBABILITY = "probability"
DECISION_SCORE = "decision_score"

OTHER_FEATURES = "other"

LINEAR_REGRESSORS = (LinearRegression, Ridge)
TREE_REGRESSORS = (RandomForestRegressor, HistGradientBoostingRegressor)
# A forest averages its trees' class frequencies: SHAP explains that probability. Boosting
# adds raw scores that a sigmoid or softmax turns into probabilities: SHAP explains the score.
TREE_PROBABILITY_CLASSIFIERS = (RandomForestClassifier,)
TREE_SCORE_CLASSIFIERS = (HistGradientBoostingClassifier,)


class NotExplainable(MLError):
    """A model whose predictions cannot be split into additive contributions here."""

    code = "not_explainable"


@dataclass(frozen=True)
class Contribution:
    feature: str  # the schema column
    token: str | None  # text columns: the word or n-gram; None otherwise
    value: Any  # the row's value of the column; for a token its tf-idf weight
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "token": self.token,
            "value": _json_value(self.value),
            "contribution": float(self.contribution),
        }


@dataclass(frozen=True)
class Explanation:
    method: str  # LINEAR, TREE_SHAP or TOKEN_WEIGHTS
    output: str  # VALUE, LOG_ODDS, PROBABILITY or DECISION_SCORE
    explained_class: str | None  # classification: whose output is explained
    base_value: float
    output_value: float  # base_value + the sum of the contributions
    contributions: list[Contribution]  # largest |contribution| first

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """JSON-safe. With `top`, the `top` largest contributions and one "other" entry that
        sums the rest, so the entries still add up to `output_value`."""
        kept = self.contributions if top is None else self.contributions[:top]
        entries = [contribution.to_dict() for contribution in kept]
        rest = self.contributions[len(kept) :]
        if rest:
            entries.append(
                {
                    "feature": OTHER_FEATURES,
                    "token": None,
                    "value": None,
                    "contribution": math.fsum(c.contribution for c in rest),
                }
            )
        return {
            "method": self.method,
            "output": self.output,
            "explained_class": self.explained_class,
            "base_value": self.base_value,
            "output_value": self.output_value,
            "contributions": entries,
        }

    def top_features(self, n: int = 2) -> list[Contribution]:
        """The `n` largest contributions from distinct columns: a text column's strongest word
        stands for the column, so one long review does not crowd out every other input."""
        seen: set[str] = set()
        chosen: list[Contribution] = []
        for contribution in self.contributions:
            if contribution.feature in seen:
                continue
            seen.add(contribution.feature)
            chosen.append(contribution)
            if len(chosen) == n:
                break
        return chosen


@dataclass(frozen=True)
class _LinearOutput:
    """The explained output written as `intercept + weights · x` over transformed features."""

    weights: np.ndarray
    intercept: float
    output: str
    explained_class: str | None


def explain_row(
    pipeline: Pipeline,
    row: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[str],
    background: Sequence[float] | None = None,
) -> Explanation:
    """Explain the pipeline's prediction for the one row of `row` (typed as `validate_record`
    types it). `classes` are the class labels in the order of the model's `classes_`.

    `background` (from `linear_background`) centres a linear model's features on their
    training means, so the base value is the output at the average row and a contribution says
    how far this row's value moves it from there. Without it the base value is the intercept.
    Words are never centred (an absent word would otherwise get a contribution), and trees
    need no background. Raises NotExplainable for estimators not listed in this module."""
    if task not in (REGRESSION, CLASSIFICATION):
        raise ValueError(f"unknown task {task!r}")
    if len(row) != 1:
        raise ValueError(f"one row is explained at a time, got {len(row)}")
    prepare, estimator = pipeline.named_steps["prepare"], pipeline.named_steps["model"]
    features = prepare.transform(row)
    if _is_tree_model(estimator):
        return _explain_tree(prepare, estimator, row, features, task=task, classes=classes)
    linear = _linear_output(estimator, features, task=task, classes=classes)
    return _explain_linear(prepare, linear, row, _dense_row(features), background)


def feature_means(features: Any) -> list[float]:
    """The mean of each transformed feature (dense or sparse): the average row a linear
    model's explanation is measured from. Stored with the model when it is trained."""
    return [float(mean) for mean in np.asarray(features.mean(axis=0)).ravel()]


def linear_background(pipeline: Pipeline, train_frame: pd.DataFrame) -> list[float]:
    """feature_means of the training rows as the pipeline prepares them."""
    return feature_means(pipeline.named_steps["prepare"].transform(train_frame))


# --- linear models ----------------------------------------------------------------------------


def _linear_output(
    estimator: Any, features: Any, *, task: str, classes: Sequence[str]
) -> _LinearOutput:
    if task == REGRESSION:
        if not isinstance(estimator, LINEAR_REGRESSORS):
            raise _not_explainable(estimator)
        return _LinearOutput(
            np.ravel(estimator.coef_), float(np.ravel(estimator.intercept_)[0]), VALUE, None
        )
    index = _explained_class_index(estimator, features, classes)
    name = str(classes[index])
    if isinstance(estimator, LogisticRegression):
        return _logistic_output(estimator, index, name)
    if isinstance(estimator, MultinomialNB):
        return _naive_bayes_output(estimator, index, name)
    if _is_calibrated_linear_svc(estimator):
        return _calibrated_svc_output(estimator, index, name)
    raise _not_explainable(estimator)


def _logistic_output(model: LogisticRegression, index: int, name: str) -> _LinearOutput:
    """Binary: the last class's log-odds. Multiclass: the class's logit, the score whose
    softmax over classes is `predict_proba`."""
    if len(model.classes_) == 2:
        return _LinearOutput(model.coef_[0], float(model.intercept_[0]), LOG_ODDS, name)
    return _LinearOutput(model.coef_[index], float(model.intercept_[index]), DECISION_SCORE, name)


def _naive_bayes_output(model: MultinomialNB, index: int, name: str) -> _LinearOutput:
    """The joint log-likelihood of a class is `class_log_prior_ + x · feature_log_prob_`,
    linear in x. Binary: last minus first is the log-odds. Multiclass: the class's minus the
    mean over classes, a logit whose softmax over classes is `predict_proba`."""
    log_prob, log_prior = model.feature_log_prob_, model.class_log_prior_
    if len(model.classes_) == 2:
        return _LinearOutput(
            log_prob[1] - log_prob[0], float(log_prior[1] - log_prior[0]), LOG_ODDS, name
        )
    return _LinearOutput(
        log_prob[index] - log_prob.mean(axis=0),
        float(log_prior[index] - log_prior.mean()),
        DECISION_SCORE,
        name,
    )


def _is_calibrated_linear_svc(estimator: Any) -> bool:
    return (
        isinstance(estimator, CalibratedClassifierCV)
        and estimator.method == "sigmoid"
        and len(estimator.calibrated_classifiers_) == 1
        and isinstance(estimator.calibrated_classifiers_[0].estimator, LinearSVC)
    )


def _calibrated_svc_output(model: CalibratedClassifierCV, index: int, name: str) -> _LinearOutput:
    """One LinearSVC (`ensemble=False`) and a sigmoid per class. Binary: the calibrator gives
    P(last class) = 1 / (1 + exp(a·d + b)) for the SVC's decision d, so the log-odds are
    -(a·d + b), still linear in x. Multiclass: the normalised one-vs-rest sigmoids are not
    additive, so the class's SVC decision score is explained."""
    calibrated = model.calibrated_classifiers_[0]
    svc = calibrated.estimator
    if len(model.classes_) == 2:
        calibrator = calibrated.calibrators[0]
        slope, offset = float(calibrator.a_), float(calibrator.b_)
        return _LinearOutput(
            -slope * svc.coef_[0],
            -(slope * float(svc.intercept_[0]) + offset),
            LOG_ODDS,
            name,
        )
    return _LinearOutput(svc.coef_[index], float(svc.intercept_[index]), DECISION_SCORE, name)


def _explain_linear(
    prepare: ColumnTransformer,
    linear: _LinearOutput,
    row: pd.DataFrame,
    x: np.ndarray,
    background: Sequence[float] | None,
) -> Explanation:
    centre = _centre(prepare, background, len(x))
    terms = linear.weights * (x - centre)
    base = linear.intercept + float(linear.weights @ centre)
    contributions: list[Contribution] = []
    has_text = False
    for column, positions in _column_positions(prepare):
        vectorizer = prepare.named_transformers_[column]
        if isinstance(vectorizer, CountVectorizer):
            has_text = True
            contributions.extend(_token_contributions(column, vectorizer, positions, x, terms))
        else:
            contributions.append(_column_contribution(column, row, terms[positions]))
    return _explanation(
        TOKEN_WEIGHTS if has_text else LINEAR,
        linear.output,
        linear.explained_class,
        base,
        contributions,
    )


def _centre(
    prepare: ColumnTransformer, background: Sequence[float] | None, width: int
) -> np.ndarray:
    """The value each transformed feature is measured from: its training mean, or zero
    without a background and for words."""
    if background is None:
        return np.zeros(width)
    if len(background) != width:
        raise ValueError(f"background has {len(background)} features, the model {width}")
    centre = np.asarray(background, dtype=float).copy()
    for column, positions in _column_positions(prepare):
        if isinstance(prepare.named_transformers_[column], CountVectorizer):
            centre[positions] = 0.0
    return centre


def _token_contributions(
    column: str,
    vectorizer: CountVectorizer,
    positions: slice,
    x: np.ndarray,
    terms: np.ndarray,
) -> list[Contribution]:
    tokens = vectorizer.get_feature_names_out()
    present = np.flatnonzero(x[positions])
    return [
        Contribution(
            feature=column,
            token=str(tokens[local]),
            value=float(x[positions.start + local]),
            contribution=float(terms[positions.start + local]),
        )
        for local in present
    ]


# --- trees ------------------------------------------------------------------------------------


def _is_tree_model(estimator: Any) -> bool:
    return isinstance(
        estimator, TREE_REGRESSORS + TREE_PROBABILITY_CLASSIFIERS + TREE_SCORE_CLASSIFIERS
    )


def _explain_tree(
    prepare: ColumnTransformer,
    estimator: Any,
    row: pd.DataFrame,
    features: Any,
    *,
    task: str,
    classes: Sequence[str],
) -> Explanation:
    """SHAP values of the transformed row, summed per column. shap casts the row to the dtype
    the estimator predicts with (float32 for forests, whose thresholds sit between float32
    values), so the values add up to the model's own output to rounding error."""
    import shap  # here, not at the top: seconds to import, and only trees need it

    x = _dense_row(features)[np.newaxis, :]
    explainer = shap.TreeExplainer(estimator)
    values = np.asarray(explainer.shap_values(x))
    base_values = np.atleast_1d(explainer.expected_value)
    if values.ndim == 2:  # one output: a regression or a binary boosting's log-odds
        values = values[:, :, np.newaxis]
    output, explained_class, index = _tree_output(estimator, x, task=task, classes=classes)
    # Two outputs from a binary forest: one per class; one from binary boosting: the last's.
    column_of_output = index if values.shape[2] > 1 else 0
    terms = values[0, :, column_of_output]
    contributions = [
        _column_contribution(column, row, terms[positions])
        for column, positions in _column_positions(prepare)
    ]
    base = float(base_values[column_of_output])
    return _explanation(TREE_SHAP, output, explained_class, base, contributions)


def _tree_output(
    estimator: Any, x: np.ndarray, *, task: str, classes: Sequence[str]
) -> tuple[str, str | None, int]:
    """(output, explained class, class index) of a tree model."""
    if task == REGRESSION:
        return VALUE, None, 0
    index = _explained_class_index(estimator, x, classes)
    name = str(classes[index])
    if isinstance(estimator, TREE_PROBABILITY_CLASSIFIERS):
        return PROBABILITY, name, index
    return (LOG_ODDS if len(estimator.classes_) == 2 else DECISION_SCORE), name, index


# --- shared -----------------------------------------------------------------------------------


def _explained_class_index(estimator: Any, features: Any, classes: Sequence[str]) -> int:
    """Binary: the last (positive) class. Multiclass: the class the model predicts."""
    if len(classes) != len(estimator.classes_):
        raise ValueError(f"{len(classes)} class names for {len(estimator.classes_)} classes")
    if len(estimator.classes_) == 2:
        return 1
    predicted = estimator.predict(features)[0]
    return int(np.flatnonzero(estimator.classes_ == predicted)[0])


def _column_positions(prepare: ColumnTransformer) -> list[tuple[str, slice]]:
    """Each schema column with the transformed features made from it (a one-hot encoder's
    categories, a vectorizer's vocabulary)."""
    return [
        (name, positions)
        for name, positions in prepare.output_indices_.items()
        if name != "remainder"
    ]


def _column_contribution(column: str, row: pd.DataFrame, terms: np.ndarray) -> Contribution:
    return Contribution(
        feature=column,
        token=None,
        value=_json_value(row[column].iloc[0]),
        contribution=math.fsum(terms),
    )


def _explanation(
    method: str,
    output: str,
    explained_class: str | None,
    base: float,
    contributions: list[Contribution],
) -> Explanation:
    ordered = sorted(contributions, key=lambda c: abs(c.contribution), reverse=True)
    return Explanation(
        method=method,
        output=output,
        explained_class=explained_class,
        base_value=float(base),
        output_value=float(base) + math.fsum(c.contribution for c in ordered),
        contributions=ordered,
    )


def _dense_row(features: Any) -> np.ndarray:
    if scipy.sparse.issparse(features):
        features = features.toarray()
    return np.asarray(features, dtype=float)[0]


def _json_value(value: Any) -> Any:
    """A plain Python value: numpy scalars unwrapped, missing values as None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _not_explainable(estimator: Any) -> NotExplainable:
    kind = type(estimator).__name__
    return NotExplainable(f"Predictions of a {kind} cannot be explained.", model=kind)
