"""Explaining one prediction: for every kind of model we ship, the base value plus the
contributions is the model's own output (computed here from predict, predict_proba or
decision_function, not from the explanation), contributions come back per schema column (or
per word of a text column), and the feature that drives the target leads."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from predictions.ml.explaining import (
    Explanation,
    NotExplainable,
    explain_row,
    linear_background,
)
from predictions.ml.schema import Column, ColumnType, InputSchema
from predictions.ml.training import CLASSIFICATION, REGRESSION, preprocessor
from predictions.ml.validation import validate_record

TOLERANCE = 1e-6
ROWS_EXPLAINED = 4
CARS = InputSchema(
    columns=(
        Column("size", ColumnType.NUMBER),
        Column("colour", ColumnType.CATEGORY, categories=("blue", "green", "red")),
        Column("noise", ColumnType.NUMBER),
    )
)
REVIEWS = InputSchema(columns=(Column("review", ColumnType.TEXT),))
POSITIVE_WORDS = ["great", "love", "excellent", "solid"]
NEGATIVE_WORDS = ["awful", "broken", "refund", "slow"]
TOPIC_WORDS = {
    "battery": ["battery", "charge", "hours"],
    "screen": ["screen", "bright", "pixels"],
    "sound": ["speaker", "loud", "bass"],
}
FILLER_WORDS = ["the", "phone", "is", "my", "this"]


# --- data -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Boosting's OpenMP threads fight over a busy machine's cores: 0.1 s becomes 15 s."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def cars() -> pd.DataFrame:
    """`size` drives every target; `colour` a little; `noise` not at all."""
    rng = np.random.default_rng(7)
    rows = 300
    size = rng.normal(10.0, 3.0, rows)
    colour = rng.choice(["blue", "green", "red"], rows)
    frame = pd.DataFrame({"size": size, "colour": colour, "noise": rng.normal(0, 1, rows)})
    shift = pd.Series(colour).map({"blue": 0.0, "green": 1.0, "red": -1.0}).to_numpy()
    frame["price"] = 5.0 * size + shift + rng.normal(0, 0.5, rows)
    centred = size - 10.0 + rng.normal(0, 1.0, rows)
    frame["sold"] = np.where(centred > 0, "yes", "no")
    frame["band"] = np.select([centred < -1.5, centred > 1.5], ["small", "large"], "medium")
    return frame


def _review(rng: np.random.Generator, opinion: list[str], topic: list[str]) -> str:
    words = [*rng.choice(opinion, 2), *rng.choice(topic, 2), *rng.choice(FILLER_WORDS, 3)]
    return " ".join(rng.permutation(words))


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for index in range(240):
        liked = index % 2 == 0
        topic = list(TOPIC_WORDS)[index % 3]
        # One review in ten says the opposite of its label: probabilities stay off 0 and 1.
        if index % 10 == 0:
            liked = not liked
        opinion = POSITIVE_WORDS if index % 2 == 0 else NEGATIVE_WORDS
        rows.append(
            {
                "review": _review(rng, opinion, TOPIC_WORDS[topic]),
                "liked": "yes" if liked else "no",
                "topic": topic,
            }
        )
    return pd.DataFrame(rows)


def _fit(schema: InputSchema, estimator, frame: pd.DataFrame, target: str, *, scale=False):
    prepare = preprocessor(schema, scale=scale, tfidf={"ngram_range": (1, 2)})
    pipeline = Pipeline([("prepare", prepare), ("model", estimator)])
    return pipeline.fit(frame[schema.names], frame[target])


def _typed_rows(frame: pd.DataFrame, schema: InputSchema) -> list[pd.DataFrame]:
    """The first rows as the API would hand them over: a record through validate_record."""
    records = frame[schema.names].head(ROWS_EXPLAINED).to_dict("records")
    return [validate_record(record, schema).frame for record in records]


def _classes(pipeline: Pipeline) -> list[str]:
    return [str(label) for label in pipeline.named_steps["model"].classes_]


def _explain(pipeline, row, task, background=None) -> Explanation:
    classes = _classes(pipeline) if task == CLASSIFICATION else []
    return explain_row(pipeline, row, task=task, classes=classes, background=background)


def _additive(explanation: Explanation) -> float:
    return explanation.base_value + math.fsum(c.contribution for c in explanation.contributions)


# --- what the model itself says -------------------------------------------------------------


def _predicted_index(pipeline: Pipeline, row: pd.DataFrame) -> int:
    return int(np.flatnonzero(pipeline.classes_ == pipeline.predict(row)[0])[0])


def _value(pipeline, row) -> float:
    return float(pipeline.predict(row)[0])


def _log_odds(pipeline, row) -> float:
    return float(logit(pipeline.predict_proba(row)[0, -1]))


def _naive_bayes_log_odds(pipeline, row) -> float:
    # predict_proba rounds a confident 1 - p away; the log probabilities keep it.
    log_proba = pipeline.predict_log_proba(row)[0]
    return float(log_proba[-1] - log_proba[0])


def _probability_of_explained(pipeline, row) -> float:
    proba = pipeline.predict_proba(row)[0]
    index = len(proba) - 1 if len(proba) == 2 else _predicted_index(pipeline, row)
    return float(proba[index])


def _decision_of_predicted(pipeline, row) -> float:
    return float(pipeline.decision_function(row)[0, _predicted_index(pipeline, row)])


def _naive_bayes_centred_log_likelihood(pipeline, row) -> float:
    features = pipeline.named_steps["prepare"].transform(row)
    joint = pipeline.named_steps["model"].predict_joint_log_proba(features)[0]
    return float(joint[_predicted_index(pipeline, row)] - joint.mean())


def _svc_decision_of_predicted(pipeline, row) -> float:
    features = pipeline.named_steps["prepare"].transform(row)
    svc = pipeline.named_steps["model"].calibrated_classifiers_[0].estimator
    return float(svc.decision_function(features)[0, _predicted_index(pipeline, row)])


def _calibrated_svc() -> CalibratedClassifierCV:
    return CalibratedClassifierCV(LinearSVC(random_state=0), method="sigmoid", cv=3, ensemble=False)


TABULAR_CASES = {
    "linear_regression": (LinearRegression, "price", REGRESSION, "linear", "value", _value),
    "logistic_binary": (
        lambda: LogisticRegression(max_iter=1000),
        "sold",
        CLASSIFICATION,
        "linear",
        "log_odds",
        _log_odds,
    ),
    "logistic_multiclass": (
        lambda: LogisticRegression(max_iter=1000),
        "band",
        CLASSIFICATION,
        "linear",
        "decision_score",
        _decision_of_predicted,
    ),
    "forest_regressor": (
        lambda: RandomForestRegressor(n_estimators=30, random_state=0),
        "price",
        REGRESSION,
        "tree_shap",
        "value",
        _value,
    ),
    "forest_binary": (
        lambda: RandomForestClassifier(n_estimators=30, random_state=0),
        "sold",
        CLASSIFICATION,
        "tree_shap",
        "probability",
        _probability_of_explained,
    ),
    "forest_multiclass": (
        lambda: RandomForestClassifier(n_estimators=30, random_state=0),
        "band",
        CLASSIFICATION,
        "tree_shap",
        "probability",
        _probability_of_explained,
    ),
    "boosting_regressor": (
        lambda: HistGradientBoostingRegressor(max_iter=50, random_state=0),
        "price",
        REGRESSION,
        "tree_shap",
        "value",
        _value,
    ),
    "boosting_binary": (
        lambda: HistGradientBoostingClassifier(max_iter=50, random_state=0),
        "sold",
        CLASSIFICATION,
        "tree_shap",
        "log_odds",
        _log_odds,
    ),
    "boosting_multiclass": (
        lambda: HistGradientBoostingClassifier(max_iter=50, random_state=0),
        "band",
        CLASSIFICATION,
        "tree_shap",
        "decision_score",
        _decision_of_predicted,
    ),
}

TEXT_CASES = {
    "logistic_binary": (lambda: LogisticRegression(C=4.0), "liked", "log_odds", _log_odds),
    "logistic_multiclass": (
        lambda: LogisticRegression(C=4.0),
        "topic",
        "decision_score",
        _decision_of_predicted,
    ),
    "naive_bayes_binary": (MultinomialNB, "liked", "log_odds", _naive_bayes_log_odds),
    "naive_bayes_multiclass": (
        MultinomialNB,
        "topic",
        "decision_score",
        _naive_bayes_centred_log_likelihood,
    ),
    "calibrated_svc_binary": (_calibrated_svc, "liked", "log_odds", _log_odds),
    "calibrated_svc_multiclass": (
        _calibrated_svc,
        "topic",
        "decision_score",
        _svc_decision_of_predicted,
    ),
}


@pytest.fixture(scope="module")
def tabular_models(cars) -> dict[str, Pipeline]:
    return {
        name: _fit(CARS, build(), cars, target)
        for name, (build, target, *_) in TABULAR_CASES.items()
    }


@pytest.fixture(scope="module")
def text_models(reviews) -> dict[str, Pipeline]:
    return {
        name: _fit(REVIEWS, build(), reviews, target)
        for name, (build, target, *_) in TEXT_CASES.items()
    }


# --- additivity -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TABULAR_CASES)
def test_tabular_base_plus_contributions_is_the_models_own_output(case, tabular_models, cars):
    _, _, task, method, output, model_output = TABULAR_CASES[case]
    pipeline = tabular_models[case]
    for row in _typed_rows(cars, CARS):
        explanation = _explain(pipeline, row, task)

        assert (explanation.method, explanation.output) == (method, output)
        assert explanation.output_value == pytest.approx(model_output(pipeline, row), abs=TOLERANCE)
        assert _additive(explanation) == pytest.approx(explanation.output_value, abs=TOLERANCE)


@pytest.mark.parametrize("case", TEXT_CASES)
def test_text_base_plus_token_weights_is_the_models_own_output(case, text_models, reviews):
    _, _, output, model_output = TEXT_CASES[case]
    pipeline = text_models[case]
    for row in _typed_rows(reviews, REVIEWS):
        explanation = _explain(pipeline, row, CLASSIFICATION)

        assert (explanation.method, explanation.output) == ("token_weights", output)
        assert explanation.output_value == pytest.approx(model_output(pipeline, row), abs=TOLERANCE)
        assert _additive(explanation) == pytest.approx(explanation.output_value, abs=TOLERANCE)


def test_ridge_with_background_starts_from_the_mean_prediction(cars):
    pipeline = _fit(CARS, Ridge(alpha=1.0), cars, "price", scale=True)
    background = linear_background(pipeline, cars[CARS.names])
    row = _typed_rows(cars, CARS)[0]

    explanation = _explain(pipeline, row, REGRESSION, background=background)

    mean_prediction = pipeline.predict(cars[CARS.names]).mean()
    assert explanation.base_value == pytest.approx(mean_prediction, abs=TOLERANCE)
    assert explanation.output_value == pytest.approx(_value(pipeline, row), abs=TOLERANCE)
    assert _additive(explanation) == pytest.approx(explanation.output_value, abs=TOLERANCE)


def test_without_background_a_linear_base_is_the_intercept(tabular_models, cars):
    pipeline = tabular_models["linear_regression"]

    explanation = _explain(pipeline, _typed_rows(cars, CARS)[0], REGRESSION)

    assert explanation.base_value == pytest.approx(pipeline.named_steps["model"].intercept_)


# --- what the contributions say ---------------------------------------------------------------


@pytest.mark.parametrize("case", TABULAR_CASES)
def test_each_column_appears_once_and_the_driving_one_leads(case, tabular_models):
    _, _, task, *_ = TABULAR_CASES[case]
    big_car = validate_record({"size": 16.5, "colour": "red", "noise": 0.2}, CARS).frame

    explanation = _explain(tabular_models[case], big_car, task)

    features = [c.feature for c in explanation.contributions]
    assert sorted(features) == sorted(CARS.names)  # colour's one-hot parts summed into one
    assert all(c.token is None for c in explanation.contributions)
    assert (explanation.contributions[0].feature, explanation.contributions[0].value) == (
        "size",
        16.5,
    )


def test_contributions_are_sorted_by_size(tabular_models, cars):
    explanation = _explain(
        tabular_models["linear_regression"], _typed_rows(cars, CARS)[1], REGRESSION
    )

    sizes = [abs(c.contribution) for c in explanation.contributions]
    assert sizes == sorted(sizes, reverse=True)


def test_binary_explains_the_last_class_and_multiclass_the_predicted_one(tabular_models, cars):
    row = _typed_rows(cars, CARS)[0]
    multiclass = tabular_models["logistic_multiclass"]

    binary = _explain(tabular_models["logistic_binary"], row, CLASSIFICATION)
    several = _explain(multiclass, row, CLASSIFICATION)

    assert binary.explained_class == "yes"
    assert several.explained_class == str(multiclass.predict(row)[0])


def test_text_contributions_are_the_words_of_the_row(text_models, reviews):
    row = _typed_rows(reviews, REVIEWS)[0]
    words = set(row["review"].iloc[0].split())

    explanation = _explain(text_models["logistic_binary"], row, CLASSIFICATION)

    assert {c.feature for c in explanation.contributions} == {"review"}
    unigrams = {c.token for c in explanation.contributions if " " not in c.token}
    assert unigrams == words
    assert all(c.value > 0 for c in explanation.contributions)
    leader = explanation.contributions[0].token
    assert any(word in leader for word in POSITIVE_WORDS + NEGATIVE_WORDS)


def test_to_dict_top_keeps_additivity_with_an_other_entry(tabular_models, cars):
    explanation = _explain(
        tabular_models["linear_regression"], _typed_rows(cars, CARS)[0], REGRESSION
    )

    data = json.loads(json.dumps(explanation.to_dict(top=2)))

    entries = data["contributions"]
    assert [e["feature"] for e in entries[:2]] == [c.feature for c in explanation.contributions[:2]]
    assert entries[2]["feature"] == "other"
    assert len(entries) == 3
    total = data["base_value"] + math.fsum(e["contribution"] for e in entries)
    assert total == pytest.approx(data["output_value"], abs=TOLERANCE)


def test_to_dict_without_top_lists_every_contribution(tabular_models, cars):
    explanation = _explain(
        tabular_models["forest_binary"], _typed_rows(cars, CARS)[0], CLASSIFICATION
    )

    data = explanation.to_dict()

    assert len(data["contributions"]) == len(CARS.names)
    assert data["explained_class"] == "yes"
    assert data["output"] == "probability"


def test_top_features_gives_distinct_columns(reviews):
    schema = InputSchema(
        columns=(Column("review", ColumnType.TEXT), Column("stars", ColumnType.NUMBER))
    )
    frame = reviews.assign(stars=np.where(reviews["liked"] == "yes", 4.0, 2.0))
    pipeline = _fit(schema, LogisticRegression(C=4.0), frame, "liked")
    row = _typed_rows(frame, schema)[0]

    explanation = _explain(pipeline, row, CLASSIFICATION)

    top = explanation.top_features(2)
    assert sorted(c.feature for c in top) == ["review", "stars"]
    assert top == [
        explanation.contributions[0],
        *[
            c
            for c in explanation.contributions
            if c.feature != explanation.contributions[0].feature
        ][:1],
    ]


# --- schemas with optional numbers and flags --------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(max_iter=1000), RandomForestClassifier(n_estimators=20, random_state=0)],
    ids=["linear", "forest"],
)
def test_optional_number_and_boolean_columns_are_explained(estimator, cars):
    schema = InputSchema(
        columns=(
            Column("size", ColumnType.NUMBER),
            Column("age", ColumnType.NUMBER, required=False),
            Column("garage", ColumnType.BOOLEAN),
        )
    )
    rng = np.random.default_rng(3)
    frame = cars.assign(
        age=np.where(rng.random(len(cars)) < 0.2, np.nan, rng.uniform(1, 15, len(cars))),
        garage=rng.random(len(cars)) < 0.5,
    )
    frame["garage"] = frame["garage"].astype(float)
    pipeline = _fit(schema, estimator, frame, "sold", scale=True)
    row = validate_record({"size": 14.0, "age": None, "garage": "yes"}, schema).frame
    background = linear_background(pipeline, frame[schema.names])

    explanation = _explain(pipeline, row, CLASSIFICATION, background=background)

    by_feature = {c.feature: c for c in explanation.contributions}
    assert set(by_feature) == {"size", "age", "garage"}
    assert by_feature["age"].value is None
    assert by_feature["garage"].value == 1.0
    assert explanation.contributions[0].feature == "size"
    json.dumps(explanation.to_dict())
    expected = _log_odds if explanation.output == "log_odds" else _probability_of_explained
    assert explanation.output_value == pytest.approx(expected(pipeline, row), abs=TOLERANCE)


# --- background and refusals ------------------------------------------------------------------


def test_linear_background_of_sparse_features_is_their_mean(text_models, reviews):
    pipeline = text_models["logistic_binary"]
    features = pipeline.named_steps["prepare"].transform(reviews[["review"]])

    background = linear_background(pipeline, reviews[["review"]])

    assert np.allclose(background, features.toarray().mean(axis=0))


def test_a_background_does_not_centre_words(text_models, reviews):
    pipeline = text_models["logistic_binary"]
    background = linear_background(pipeline, reviews[["review"]])
    row = _typed_rows(reviews, REVIEWS)[0]

    centred = _explain(pipeline, row, CLASSIFICATION, background=background)
    plain = _explain(pipeline, row, CLASSIFICATION)

    assert centred == plain


def test_an_unsupported_model_is_not_explainable(cars):
    pipeline = _fit(CARS, KNeighborsRegressor(), cars, "price")

    with pytest.raises(NotExplainable) as raised:
        _explain(pipeline, _typed_rows(cars, CARS)[0], REGRESSION)

    assert raised.value.code == "not_explainable"
