"""Training a customer's model: reproducible metrics and files, progress and stopping, curves
and explanations in the shapes the pages draw, clear errors for impossible data. No database."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from predictions.ml import fitting, training
from predictions.ml.algorithms import get_algorithm
from predictions.ml.errors import MLError
from predictions.ml.fitting import TrainingStopped, fit_and_evaluate, growth_sizes
from tests.predictions.ml.test_algorithms import (
    HOUSE_SCHEMA,
    QUICK_PARAMS,
    REVIEW_SCHEMA,
    house_frame,
    review_frame,
)

TARGETS = {"regression": "price", "classification": "band"}


def train(tmp_path, name, *, frame=None, target=None, seed=0, params=None, **options):
    algorithm = get_algorithm(name)
    if frame is None:
        frame = review_frame() if algorithm.family == "text" else house_frame()
    if target is None:
        target = "sentiment" if algorithm.family == "text" else TARGETS[algorithm.task]
    schema = REVIEW_SCHEMA if algorithm.family == "text" else HOUSE_SCHEMA
    return fit_and_evaluate(
        frame,
        schema=schema,
        target=target,
        task=algorithm.task,
        algorithm=algorithm,
        params=QUICK_PARAMS.get(name, {}) if params is None else params,
        seed=seed,
        out_path=tmp_path / f"{name}-{seed}.skops",
        data_sha256="data-sha",
        **options,
    )


def test_regression_measures_the_held_out_rows_and_records_the_training(tmp_path):
    model = train(tmp_path, "ridge", params={"alpha": 2})

    assert model.metrics["test_rows"] == 48
    assert model.metrics["r2"] > 0.8
    assert model.metrics["headline"] == {"name": "r2", "value": model.metrics["r2"]}
    assert model.classes == []
    record = model.record
    assert record["algorithm"] == "ridge"
    assert record["hyperparameters"] == {"alpha": 2.0}
    assert record["rows"] == {"train": 192, "test": 48}
    assert record["columns"] == ["size", "rooms", "district", "garden"]
    assert record["split"] == "random 80% / 20% train/test split, seed 0"
    assert record["data_sha256"] == "data-sha"
    assert record["libraries"] == training.library_versions()
    assert set(record["durations"]) == set(fitting.STAGES)
    json.dumps([model.metrics, model.curves, model.feature_importance, record])


def test_regression_curves_share_one_sample_and_histogram_every_residual(tmp_path):
    model = train(tmp_path, "linear_regression", frame=house_frame(rows=2000))

    scatter, residuals = model.curves["predicted_vs_actual"], model.curves["residuals"]
    assert len(scatter["actual"]) == len(scatter["predicted"]) == 300
    assert residuals["predicted"] == scatter["predicted"]
    assert residuals["residual"] == pytest.approx(
        np.subtract(scatter["actual"], scatter["predicted"]), abs=1e-5
    )
    histogram = model.curves["residual_histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert sum(histogram["counts"]) == 400


def test_binary_classification_curves_are_about_the_last_class(tmp_path):
    model = train(tmp_path, "logistic_regression", target="expensive")

    assert model.classes == ["no", "yes"]
    assert model.metrics["positive_class"] == "yes"
    assert model.metrics["headline"]["name"] == "roc_auc"
    assert model.metrics["roc_auc"] > 0.9
    roc, precision_recall = model.curves["roc"], model.curves["precision_recall"]
    assert 2 < len(roc["fpr"]) == len(roc["tpr"]) <= fitting.CURVE_MAX_POINTS
    assert (roc["fpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 1.0, 1.0)
    assert len(precision_recall["recall"]) == len(precision_recall["precision"]) <= 100
    matrix = model.curves["confusion_matrix"]
    assert matrix["labels"] == ["no", "yes"]
    assert np.sum(matrix["matrix"]) == model.metrics["test_rows"]


def test_multiclass_metrics_average_over_classes_one_versus_rest(tmp_path):
    frame = house_frame()
    model = train(tmp_path, "logistic_regression", frame=frame)

    assert model.classes == ["high", "low", "middle"]
    loaded = skops.io.load(tmp_path / "logistic_regression-0.skops", trusted=model.trusted_types)
    _, test = train_test_split(
        frame, test_size=training.TEST_SIZE, random_state=0, stratify=frame["band"]
    )
    probabilities = loaded.predict_proba(test[HOUSE_SCHEMA.names])
    expected_auc = roc_auc_score(test["band"], probabilities, multi_class="ovr", average="macro")
    assert model.metrics["roc_auc"] == pytest.approx(expected_auc, abs=1e-6)
    assert model.metrics["log_loss"] == pytest.approx(
        log_loss(test["band"], probabilities, labels=model.classes), abs=1e-6
    )
    assert 0.7 < model.metrics["accuracy"] <= 1
    assert 0 < model.metrics["f1"] <= 1
    assert set(model.curves["roc"]) == {"high", "low", "middle"}
    assert set(model.curves["precision_recall"]["low"]) == {"recall", "precision"}
    assert np.shape(model.curves["confusion_matrix"]["matrix"]) == (3, 3)


@pytest.mark.parametrize(
    "name", ["random_forest_classification", "hist_gradient_boosting_regression"]
)
def test_same_data_params_and_seed_give_the_same_metrics_and_file(tmp_path, name):
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()

    first = train(tmp_path / "first", name)
    second = train(tmp_path / "second", name)

    assert first.metrics == second.metrics
    assert first.curves == second.curves
    assert first.feature_importance == second.feature_importance
    assert first.sha256 == second.sha256


def test_another_seed_gives_another_split(tmp_path):
    first = train(tmp_path, "ridge", seed=0)
    second = train(tmp_path, "ridge", seed=1)

    assert first.record["split"] != second.record["split"]
    assert first.metrics != second.metrics
    assert first.sha256 != second.sha256


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("random_forest_regression", "n_estimators"),
        ("random_forest_classification", "n_estimators"),
        ("hist_gradient_boosting_regression", "max_iter"),
        ("hist_gradient_boosting_classification", "max_iter"),
    ],
)
def test_growing_in_chunks_builds_the_model_one_fit_would(tmp_path, name, size):
    frame, task = house_frame(), get_algorithm(name).task
    target = TARGETS[task]
    fractions = []

    def step(stage, fraction):
        if stage == "fit":
            fractions.append(fraction)

    model = train(tmp_path, name, step=step)
    once = get_algorithm(name).build(HOUSE_SCHEMA, QUICK_PARAMS[name], seed=0)
    stratify = frame[target] if task == "classification" else None
    train_rows, _ = train_test_split(
        frame, test_size=training.TEST_SIZE, random_state=0, stratify=stratify
    )
    with threadpool_limits(limits=1):
        once.fit(train_rows[HOUSE_SCHEMA.names], train_rows[target])

    grown = skops.io.load(tmp_path / f"{name}-0.skops", trusted=model.trusted_types)
    rows = frame[HOUSE_SCHEMA.names]
    if task == "classification":
        assert np.array_equal(grown.predict_proba(rows), once.predict_proba(rows))
    else:
        assert np.array_equal(grown.predict(rows), once.predict(rows))
    assert fractions == [0.0, *(s / 20 for s in growth_sizes(20)), 1.0]
    assert grown.named_steps["model"].get_params()[size] == 20


def test_growth_sizes_end_at_the_total_in_at_most_ten_steps():
    assert growth_sizes(100) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert growth_sizes(15) == [2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
    assert growth_sizes(3) == [1, 2, 3]


def test_stopping_during_fit_raises_and_saves_nothing(tmp_path):
    grown = []

    def step(stage, fraction):
        if stage == "fit" and fraction > 0:
            grown.append(fraction)

    with pytest.raises(TrainingStopped):
        train(
            tmp_path,
            "random_forest_regression",
            step=step,
            should_stop=lambda: len(grown) >= 3,
        )

    assert grown == [0.1, 0.2, 0.3]
    assert not (tmp_path / "random_forest_regression-0.skops").exists()


def test_stopping_between_stages_raises_before_the_next_stage(tmp_path):
    stages = []

    with pytest.raises(TrainingStopped):
        train(
            tmp_path,
            "ridge",
            step=lambda stage, fraction: stages.append((stage, fraction)),
            should_stop=lambda: ("evaluate", 1.0) in stages,
        )

    assert stages[-1] == ("evaluate", 1.0)
    assert not (tmp_path / "ridge-0.skops").exists()


def test_progress_goes_through_every_stage_in_order(tmp_path):
    stages = []

    train(tmp_path, "ridge", step=lambda stage, fraction: stages.append((stage, fraction)))

    assert stages == [(stage, fraction) for stage in fitting.STAGES for fraction in (0.0, 1.0)]


@pytest.mark.parametrize("name", ["logistic_regression", "random_forest_classification"])
def test_feature_importance_names_the_schema_columns_used(tmp_path, name):
    model = train(tmp_path, name)

    importance = model.feature_importance
    assert sorted(entry["feature"] for entry in importance) == sorted(
        ["size", "rooms", "district", "garden"]
    )
    values = [entry["importance"] for entry in importance]
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1, abs=1e-5)
    assert importance[0]["feature"] in {"size", "district"}


def test_linear_models_keep_the_mean_training_row_and_trees_do_not(tmp_path):
    linear = train(tmp_path, "logistic_regression")
    forest = train(tmp_path, "random_forest_classification")

    # size, rooms and garden are one feature each; district is one-hot in three.
    assert len(linear.background) == 6
    assert linear.background[0] == pytest.approx(0, abs=1e-9)  # size is standardised
    assert forest.background is None


@pytest.mark.parametrize(
    "name", ["tfidf_logistic_regression", "tfidf_linear_svm", "tfidf_naive_bayes"]
)
def test_text_models_learn_sentiment_and_credit_the_text_column(tmp_path, name):
    model = train(tmp_path, name)

    assert model.classes == ["negative", "positive"]
    assert model.metrics["accuracy"] > 0.9
    assert model.feature_importance == [{"feature": "review", "importance": 1.0}]
    assert len(model.background) == len(
        skops.io.load(tmp_path / f"{name}-0.skops", trusted=model.trusted_types)
        .named_steps["prepare"]
        .get_feature_names_out()
    )


def test_a_class_of_one_row_falls_back_to_a_random_split(tmp_path):
    frame = house_frame()
    frame.loc[0, "band"] = "unique"

    model = train(tmp_path, "logistic_regression", frame=frame)

    assert model.record["split"].startswith("random ")
    assert "unique" in model.classes


def test_a_single_class_cannot_be_learned(tmp_path):
    frame = house_frame()
    frame["band"] = "low"

    with pytest.raises(MLError) as raised:
        train(tmp_path, "logistic_regression", frame=frame)

    assert raised.value.code == "single_class"


def test_the_svm_needs_three_training_rows_of_each_class(tmp_path):
    frame = review_frame()
    frame.loc[:1, "sentiment"] = "mixed"

    with pytest.raises(MLError) as raised:
        train(tmp_path, "tfidf_linear_svm", frame=frame)

    assert raised.value.code == "too_few_rows_per_class"
    assert raised.value.params["classes"] == ["mixed"]


def test_too_few_rows_or_a_missing_target_are_refused(tmp_path):
    with pytest.raises(MLError) as raised:
        train(tmp_path, "ridge", frame=house_frame(rows=9))
    assert raised.value.code == "too_few_rows"

    frame = house_frame()
    frame.loc[3, "price"] = np.nan
    with pytest.raises(MLError) as raised:
        train(tmp_path, "ridge", frame=frame)
    assert (raised.value.code, raised.value.params["rows"]) == ("missing_target", 1)


def test_invalid_hyperparameters_are_refused_before_any_stage(tmp_path):
    stages = []

    with pytest.raises(MLError) as raised:
        train(tmp_path, "ridge", params={"alpha": 0}, step=lambda *args: stages.append(args))

    assert raised.value.code == "invalid_hyperparameters"
    assert stages == []


def test_the_frame_may_hold_columns_the_algorithm_does_not_read(tmp_path):
    frame = house_frame().assign(unrelated=pd.Series(["x"] * 240))

    model = train(tmp_path, "ridge", frame=frame)

    assert "unrelated" not in model.record["columns"]
