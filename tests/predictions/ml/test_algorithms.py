"""The algorithms registry: every algorithm builds a pipeline that fits, saves and loads;
hyperparameters are checked before any training; prices follow the row count. No database."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from predictions.ml import training
from predictions.ml.algorithms import (
    ALGORITHMS,
    Algorithm,
    algorithms_for,
    get_algorithm,
)
from predictions.ml.errors import MLError
from predictions.ml.schema import Column, ColumnType, InputSchema

# Small forests and boostings: the tests are about behaviour, not accuracy.
QUICK_PARAMS = {
    "random_forest_regression": {"n_estimators": 20},
    "random_forest_classification": {"n_estimators": 20},
    "hist_gradient_boosting_regression": {"max_iter": 20},
    "hist_gradient_boosting_classification": {"max_iter": 20},
}

HOUSE_SCHEMA = InputSchema(
    columns=(
        Column("size", ColumnType.NUMBER, required=False),
        Column("rooms", ColumnType.INTEGER),
        Column("district", ColumnType.CATEGORY, categories=("centre", "north", "south")),
        Column("garden", ColumnType.BOOLEAN),
        Column("notes", ColumnType.TEXT),
    )
)
REVIEW_SCHEMA = InputSchema(
    columns=(Column("review", ColumnType.TEXT), Column("stars_shown", ColumnType.INTEGER))
)

POSITIVE_WORDS = ["great", "excellent", "love", "perfect", "comfortable", "fast", "recommend"]
NEGATIVE_WORDS = ["broken", "awful", "refund", "slow", "poor", "disappointed", "cheap"]
NEUTRAL_WORDS = ["the", "phone", "delivery", "box", "it", "was", "and", "battery", "screen"]


def house_frame(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Houses typed as validate_rows types them, with a price (regression), a price band in
    three classes and an 'expensive' flag (binary classification)."""
    rng = np.random.RandomState(seed)
    size = rng.uniform(20, 200, rows)
    rooms = rng.randint(1, 6, rows).astype(float)
    district = rng.choice(["centre", "north", "south"], rows)
    garden = rng.randint(0, 2, rows).astype(float)
    price = size * 3 + rooms * 10 + np.where(district == "centre", 120, 0) + rng.normal(0, 25, rows)
    size[rng.rand(rows) < 0.05] = np.nan
    band = np.select([price > 480, price > 320], ["high", "middle"], "low")
    return pd.DataFrame(
        {
            "size": size,
            "rooms": rooms,
            "district": district,
            "garden": garden,
            "notes": rng.choice(["quiet street", "near the park", "needs repair"], rows),
            "price": price,
            "band": band,
            "expensive": np.where(price > 400, "yes", "no"),
        }
    )


def review_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """Review-like texts: a few sentiment words among neutral ones, labelled by sentiment."""
    rng = np.random.RandomState(seed)
    sentiment = rng.choice(["negative", "positive"], rows)
    texts = []
    for label in sentiment:
        words = POSITIVE_WORDS if label == "positive" else NEGATIVE_WORDS
        chosen = [*rng.choice(words, 2), *rng.choice(NEUTRAL_WORDS, 6)]
        texts.append(" ".join(rng.permutation(chosen)))
    return pd.DataFrame(
        {
            "review": texts,
            "stars_shown": rng.randint(1, 6, rows).astype(float),
            "sentiment": sentiment,
        }
    )


def training_data(algorithm: Algorithm) -> tuple[pd.DataFrame, InputSchema, str]:
    """A frame, its schema and the target an algorithm of this kind trains on."""
    if algorithm.family == "text":
        return review_frame(), REVIEW_SCHEMA, "sentiment"
    target = "price" if algorithm.task == "regression" else "band"
    return house_frame(), HOUSE_SCHEMA, target


def test_registry_holds_the_ten_algorithms_by_task_family_and_explanation():
    found = {a.name: (a.task, a.family, a.explanation) for a in ALGORITHMS}

    assert found == {
        "linear_regression": ("regression", "tabular", "linear"),
        "ridge": ("regression", "tabular", "linear"),
        "random_forest_regression": ("regression", "tabular", "tree"),
        "hist_gradient_boosting_regression": ("regression", "tabular", "tree"),
        "logistic_regression": ("classification", "tabular", "linear"),
        "random_forest_classification": ("classification", "tabular", "tree"),
        "hist_gradient_boosting_classification": ("classification", "tabular", "tree"),
        "tfidf_logistic_regression": ("classification", "text", "text_linear"),
        "tfidf_linear_svm": ("classification", "text", "text_linear"),
        "tfidf_naive_bayes": ("classification", "text", "text_linear"),
    }


def test_algorithms_for_a_task_lists_only_that_task():
    regression = algorithms_for("regression")

    assert [a.name for a in regression][:2] == ["linear_regression", "ridge"]
    assert {a.task for a in regression} == {"regression"}
    assert len(regression) + len(algorithms_for("classification")) == len(ALGORITHMS)


def test_get_algorithm_finds_by_name_and_refuses_unknown_names():
    assert get_algorithm("ridge").name == "ridge"

    with pytest.raises(MLError) as raised:
        get_algorithm("deep_magic")

    assert raised.value.code == "unknown_algorithm"
    assert raised.value.params == {"algorithm": "deep_magic"}


CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_every_text_a_customer_reads_is_in_english_and_russian(algorithm):
    texts = [algorithm.label, algorithm.description]
    for hyperparameter in algorithm.hyperparameters:
        texts += [hyperparameter.label, hyperparameter.help]

    for text in texts:
        assert text["en"].strip()
        assert CYRILLIC.search(text["ru"]), text["ru"]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_to_dict_is_json_safe_and_in_the_language_asked(algorithm):
    russian = json.loads(json.dumps(algorithm.to_dict("ru")))

    assert russian["label"] == algorithm.label["ru"]
    assert [h["name"] for h in russian["hyperparameters"]] == [
        h.name for h in algorithm.hyperparameters
    ]
    assert all(isinstance(h["label"], str) for h in russian["hyperparameters"])
    assert algorithm.to_dict("de")["label"] == algorithm.label["en"]


def test_hyperparameter_to_dict_without_language_keeps_every_translation():
    alpha = get_algorithm("ridge").hyperparameters[0].to_dict()

    assert alpha["label"].keys() == {"en", "ru"}
    assert (alpha["kind"], alpha["minimum"], alpha["maximum"]) == ("number", 1e-4, 1e4)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_defaults_are_valid_and_fill_every_hyperparameter(algorithm):
    filled = algorithm.validate(None)

    assert filled == {h.name: h.default for h in algorithm.hyperparameters}
    assert algorithm.validate({}) == filled


def test_given_values_replace_defaults_in_canonical_types():
    forest = get_algorithm("random_forest_regression")

    filled = forest.validate({"n_estimators": 50.0, "max_features": "sqrt"})

    assert filled["n_estimators"] == 50
    assert isinstance(filled["n_estimators"], int)
    assert filled["max_features"] == "sqrt"
    assert filled["max_depth"] == 12
    assert isinstance(get_algorithm("ridge").validate({"alpha": 2})["alpha"], float)


def problems_of(algorithm_name: str, params: dict) -> list[dict]:
    with pytest.raises(MLError) as raised:
        get_algorithm(algorithm_name).validate(params)
    assert raised.value.code == "invalid_hyperparameters"
    return raised.value.params["problems"]


@pytest.mark.parametrize(
    ("params", "name", "code"),
    [
        ({"depth": 3}, "depth", "unknown"),
        ({"n_estimators": True}, "n_estimators", "type"),
        ({"n_estimators": "30"}, "n_estimators", "type"),
        ({"n_estimators": 30.5}, "n_estimators", "type"),
        ({"n_estimators": float("nan")}, "n_estimators", "type"),
        ({"max_depth": float("inf")}, "max_depth", "type"),
        ({"n_estimators": 9}, "n_estimators", "minimum"),
        ({"n_estimators": 501}, "n_estimators", "maximum"),
        ({"max_features": "half"}, "max_features", "choice"),
        ({"max_features": 0.5}, "max_features", "type"),
    ],
)
def test_each_bad_value_is_reported_with_its_code(params, name, code):
    problems = problems_of("random_forest_regression", params)

    assert [(p["name"], p["code"]) for p in problems] == [(name, code)]
    assert name in problems[0]["message"]


def test_numbers_refuse_booleans_and_non_finite_values():
    problems = problems_of("ridge", {"alpha": True})
    assert problems[0]["code"] == "type"

    problems = problems_of("ridge", {"alpha": float("inf")})
    assert problems[0]["code"] == "type"


def test_booleans_refuse_numbers():
    problems = problems_of("linear_regression", {"fit_intercept": 1})

    assert [(p["name"], p["code"]) for p in problems] == [("fit_intercept", "type")]


def test_every_problem_is_reported_at_once_and_named_in_the_message():
    with pytest.raises(MLError) as raised:
        get_algorithm("hist_gradient_boosting_regression").validate(
            {"max_iter": 5, "learning_rate": 2.0, "max_leaf_nodes": False, "trees": 3}
        )

    problems = {p["name"]: p["code"] for p in raised.value.params["problems"]}
    assert problems == {
        "trees": "unknown",
        "max_iter": "minimum",
        "learning_rate": "maximum",
        "max_leaf_nodes": "type",
    }
    for name in problems:
        assert name in raised.value.message


def test_hyperparameters_must_be_an_object():
    problems = problems_of("ridge", [("alpha", 1.0)])

    assert problems[0]["code"] == "type"


@pytest.mark.parametrize(
    ("rows", "expected"), [(0, 20), (1, 24), (1000, 24), (1001, 28), (25_000, 120)]
)
def test_price_is_base_plus_each_started_thousand_rows(rows, expected):
    forest = get_algorithm("random_forest_classification")

    assert forest.price(rows) == expected
    assert forest.price(rows) == forest.base_price + math.ceil(rows / 1000) * 4


def test_trees_cost_more_to_predict_than_linear_models():
    assert get_algorithm("random_forest_regression").predict_price_per_row == 2
    assert get_algorithm("linear_regression").predict_price_per_row == 1


def test_tabular_pipelines_read_every_column_but_text():
    pipeline = get_algorithm("ridge").build(HOUSE_SCHEMA, {}, seed=3)

    prepare = pipeline.named_steps["prepare"]
    assert [name for name, _, _ in prepare.transformers] == ["size", "rooms", "district", "garden"]
    assert pipeline.named_steps["model"].random_state == 3


def test_text_pipelines_read_only_text_columns_with_the_tfidf_asked():
    pipeline = get_algorithm("tfidf_logistic_regression").build(
        REVIEW_SCHEMA, {"ngram_max": 3, "min_df": 2, "sublinear_tf": False}, seed=0
    )

    (name, vectorizer, column), *others = pipeline.named_steps["prepare"].transformers
    assert (name, column, others) == ("review", "review", [])
    assert isinstance(vectorizer, TfidfVectorizer)
    assert (vectorizer.ngram_range, vectorizer.min_df, vectorizer.sublinear_tf) == (
        (1, 3),
        2,
        False,
    )
    assert pipeline.named_steps["model"].C == 4.0


def test_a_text_algorithm_on_a_table_without_text_has_no_usable_columns():
    numbers_only = InputSchema(columns=(Column("size", ColumnType.NUMBER),))

    with pytest.raises(MLError) as raised:
        get_algorithm("tfidf_naive_bayes").build(numbers_only, {}, seed=0)

    assert raised.value.code == "no_usable_columns"
    assert raised.value.params == {"algorithm": "tfidf_naive_bayes", "family": "text"}


def test_build_refuses_invalid_hyperparameters():
    with pytest.raises(MLError) as raised:
        get_algorithm("ridge").build(HOUSE_SCHEMA, {"alpha": -1}, seed=0)

    assert raised.value.code == "invalid_hyperparameters"


def test_all_features_per_split_means_every_feature():
    forest = get_algorithm("random_forest_classification").build(
        HOUSE_SCHEMA, {"max_features": "all"}, seed=0
    )

    assert forest.named_steps["model"].max_features == 1.0


def test_the_svm_is_calibrated_to_give_probabilities():
    model = get_algorithm("tfidf_linear_svm").build(REVIEW_SCHEMA, {"C": 0.5}, seed=7)
    svm = model.named_steps["model"]

    assert isinstance(svm, CalibratedClassifierCV)
    assert (svm.method, svm.cv, svm.ensemble) == ("sigmoid", 3, False)
    assert (svm.estimator.C, svm.estimator.random_state) == (0.5, 7)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_every_algorithm_fits_and_its_saved_file_predicts_the_same(algorithm, tmp_path):
    frame, schema, target = training_data(algorithm)
    pipeline = algorithm.build(schema, QUICK_PARAMS.get(algorithm.name, {}), seed=0)
    with threadpool_limits(limits=1):  # as training does: many threads only contend here
        pipeline.fit(frame[schema.names], frame[target])
    path = tmp_path / "model.skops"

    _, trusted = training.save_model(
        pipeline, path, check_rows=frame[schema.names], task=algorithm.task
    )

    loaded = skops.io.load(path, trusted=trusted)
    rows = frame[schema.names].head(50)
    if algorithm.task == "classification":
        assert np.array_equal(loaded.predict_proba(rows), pipeline.predict_proba(rows))
    else:
        assert np.array_equal(loaded.predict(rows), pipeline.predict(rows))
