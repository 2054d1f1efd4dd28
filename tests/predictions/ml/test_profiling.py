import json

import numpy as np
import pandas as pd
import pytest

from predictions.ml.errors import MLError
from predictions.ml.profiling import (
    MAX_CLASSES,
    MIN_TRAINING_ROWS,
    DatasetSchema,
    profile,
    revise_schema,
    suggest_schema,
    training_table,
)
from predictions.ml.schema import ColumnType

ROWS = 60


def csv_frame(columns: dict[str, list]) -> pd.DataFrame:
    """A frame as read_table gives a CSV: every cell a string, missing cells None."""
    return pd.DataFrame(
        {
            name: [None if value is None else str(value) for value in values]
            for name, values in columns.items()
        },
        dtype=object,
    )


@pytest.fixture
def cars() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    mileage = rng.integers(1_000, 90_000, ROWS)
    return csv_frame(
        {
            "Mileage": mileage.tolist(),
            "Engine": [f"{value:.1f}" for value in rng.uniform(1.0, 5.0, ROWS)],
            "Doors": rng.choice([2, 4], ROWS).tolist(),
            "Leather": rng.choice(["yes", "no"], ROWS).tolist(),
            "Make": rng.choice(["Buick", "Saab", "Cadillac"], ROWS).tolist(),
            "Review": [f"a fine car with number {i} on the plate" for i in range(ROWS)],
            "Notes": [None] * ROWS,
            "Price": (40_000 - mileage * 0.2 + rng.normal(0, 500, ROWS)).round(2).tolist(),
        }
    )


@pytest.fixture
def reviews() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    sentiment = rng.choice(["positive", "negative"], 200, p=[0.75, 0.25])
    words = {
        "positive": ["great taste", "очень вкусно", "love it"],
        "negative": ["awful smell", "очень плохо", "never again"],
    }
    text = [f"{rng.choice(words[label])} {rng.choice(['today', 'сегодня'])}" for label in sentiment]
    return csv_frame(
        {
            "Text": text,
            "Stars": [4 if label == "positive" else 1 for label in sentiment],
            "Noise": rng.normal(size=200).round(3).tolist(),
            "Sentiment": sentiment.tolist(),
        }
    )


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(MLError) as caught:
        call(*args, **kwargs)
    assert caught.value.message
    return caught.value.code


# --- suggest_schema ---------------------------------------------------------------------------


def test_csv_strings_are_typed_as_their_values_suggest(cars):
    schema = suggest_schema(cars, target="Price")

    types = {column.name: column.type for column in schema.columns}
    assert types == {
        "Mileage": ColumnType.INTEGER,
        "Engine": ColumnType.NUMBER,
        "Doors": ColumnType.INTEGER,
        "Leather": ColumnType.BOOLEAN,
        "Make": ColumnType.CATEGORY,
        "Review": ColumnType.TEXT,
    }
    assert schema.features().column("Make").categories == ("Buick", "Cadillac", "Saab")
    assert schema.task == "regression"


def test_an_empty_column_is_left_out_with_a_note(cars):
    schema = suggest_schema(cars, target="Price")

    assert schema.ignored == ("Notes",)
    assert schema.notes["Notes"] == "empty"
    assert "Notes" not in schema.features().names


def test_an_identifier_is_kept_with_a_note_but_free_text_is_not_one(cars):
    cars.insert(0, "Id", [str(1000 + i) for i in range(ROWS)])
    cars.insert(1, "Code", [f"C-{i:04d}" for i in range(ROWS)])

    schema = suggest_schema(cars, target="Price")

    assert schema.features().names[:2] == ["Id", "Code"]
    assert schema.notes["Id"] == "identifier"
    assert schema.notes["Code"] == "identifier"
    assert "Review" not in schema.notes


@pytest.mark.parametrize(
    "target_values",
    [
        ["1", "2", "3", "4", "5"] * 12,  # a rating: a small whole-number code
        ["yes", "no"] * 30,
        ["red", "green", "blue"] * 20,
    ],
)
def test_flags_categories_and_small_codes_are_classification(target_values):
    frame = csv_frame({"x": list(range(60)), "y": target_values})

    assert suggest_schema(frame, target="y").task == "classification"


def test_a_measured_number_is_regression():
    frame = csv_frame({"x": list(range(60)), "y": [str(i * 3) for i in range(60)]})

    assert suggest_schema(frame, target="y").task == "regression"


@pytest.mark.parametrize(
    ("target_values", "code"),
    [
        (["2.5"] * 40, "constant_target"),
        (["7"] * 40, "constant_target"),
        (["a"] * 40, "single_class"),
        (
            [f"review number {i}: the phone arrived late and broken" for i in range(40)],
            "text_target",
        ),
        ([f"label {i % (MAX_CLASSES + 1)}" for i in range(120)], "too_many_classes"),
        ([None] * 40, "empty_target"),
        (["1", "2"] * 10 + [None] * 20, "too_few_rows"),
    ],
)
def test_a_target_that_cannot_be_learned_is_refused(target_values, code):
    frame = csv_frame({"x": list(range(len(target_values))), "y": target_values})

    assert error_code(suggest_schema, frame, target="y") == code


def test_a_missing_target_column_is_refused_with_the_columns_named(cars):
    with pytest.raises(MLError) as caught:
        suggest_schema(cars, target="Cost")

    assert caught.value.code == "no_target"
    assert caught.value.params["columns"][0] == "Mileage"


def test_a_table_with_nothing_but_the_target_is_refused():
    frame = csv_frame({"empty": [None] * 40, "y": ["1", "2"] * 20})

    assert error_code(suggest_schema, frame, target="y") == "no_features"


# --- revise_schema ----------------------------------------------------------------------------


def test_a_changed_type_is_re_derived_from_the_data(cars):
    schema = suggest_schema(cars, target="Price")

    revised = revise_schema(
        cars, schema, types={"Doors": "category", "Mileage": "number", "Make": "text"}
    )

    features = revised.features()
    assert features.column("Doors").categories == ("2", "4")
    assert features.column("Mileage").type == ColumnType.NUMBER
    assert features.column("Mileage").maximum >= max(int(value) for value in cars["Mileage"])
    assert features.column("Make").type == ColumnType.TEXT
    assert features.column("Engine") == schema.features().column("Engine")


def test_ignored_columns_and_the_task_are_the_customers_choice(reviews):
    schema = suggest_schema(reviews, target="Stars")
    assert schema.task == "classification"

    revised = revise_schema(reviews, schema, ignored=["Noise", "Sentiment"], task="regression")

    assert revised.task == "regression"
    assert revised.ignored == ("Noise", "Sentiment")
    assert revised.features().names == ["Text"]
    brought_back = revise_schema(reviews, revised, ignored=[])
    assert brought_back.features().names == ["Text", "Noise", "Sentiment"]


@pytest.mark.parametrize(
    ("choices", "code"),
    [
        ({"types": {"Colour": "text"}}, "unknown_column"),
        ({"ignored": ["Colour"]}, "unknown_column"),
        ({"ignored": ["Price"]}, "target_ignored"),
        ({"types": {"Price": "category"}}, "target_type"),
        ({"types": {"Make": "colour"}}, "unknown_type"),
        ({"task": "clustering"}, "unknown_task"),
        ({"types": {"Make": "number"}}, "type_mismatch"),
        ({"types": {"Engine": "integer"}}, "type_mismatch"),
        ({"types": {"Make": "boolean"}}, "type_mismatch"),
        ({"ignored": []}, "empty_column"),
        (
            {"ignored": ["Mileage", "Engine", "Doors", "Leather", "Make", "Review", "Notes"]},
            "no_features",
        ),
        ({"types": {"Review": "category"}, "task": "classification"}, "too_many_classes"),
    ],
)
def test_a_choice_the_data_cannot_honour_is_refused(cars, choices, code):
    schema = suggest_schema(cars, target="Price")

    assert error_code(revise_schema, cars, schema, **choices) == code


def test_type_mismatch_names_the_column_and_type(cars):
    schema = suggest_schema(cars, target="Price")

    with pytest.raises(MLError) as caught:
        revise_schema(cars, schema, types={"Make": "number"})

    assert caught.value.params["column"] == "Make"
    assert caught.value.params["type"] == "number"


def test_regression_of_words_is_a_text_target(reviews):
    schema = suggest_schema(reviews, target="Sentiment")

    assert error_code(revise_schema, reviews, schema, task="regression") == "text_target"


def test_a_few_misfits_are_allowed_by_a_type(cars):
    cars.loc[3, "Engine"] = "unknown"
    schema = suggest_schema(cars, target="Price")
    assert schema.features().column("Engine").type != ColumnType.NUMBER

    revised = revise_schema(cars, schema, types={"Engine": "number"})

    assert revised.features().column("Engine").type == ColumnType.NUMBER


# --- training_table ---------------------------------------------------------------------------


def test_rows_without_a_target_or_with_a_misfit_are_dropped_and_counted(cars):
    schema = suggest_schema(cars, target="Price")
    schema = revise_schema(cars, schema, types={"Engine": "number"})
    cars.loc[3, "Engine"] = "unknown"
    cars.loc[5, "Price"] = None
    cars.loc[7, "Price"] = "n/a"

    table = training_table(cars, schema)

    assert table.rows_dropped == 3
    assert len(table.frame) == ROWS - 3
    assert table.frame["Price"].dtype == float
    assert table.frame["Engine"].dtype == float
    assert set(table.frame["Leather"]) == {0.0, 1.0}
    assert table.classes == ()
    assert len(table.data_sha256) == 64


def test_classes_are_sorted_labels_and_the_checksum_is_stable():
    frame = csv_frame({"x": list(range(60)), "y": ["10", "2", "1"] * 20})
    schema = suggest_schema(frame, target="y")

    first, second = training_table(frame, schema), training_table(frame, schema)

    assert first.classes == ("1", "2", "10")
    assert first.data_sha256 == second.data_sha256


def test_too_few_usable_rows_is_refused():
    frame = csv_frame({"x": ["1"] * 20 + ["oops"] * 20, "y": ["1", "2"] * 20})
    schema = DatasetSchema.from_dict(
        {
            "target": "y",
            "task": "classification",
            "columns": [{"name": "x", "type": "integer"}],
        }
    )

    with pytest.raises(MLError) as caught:
        training_table(frame, schema)

    assert caught.value.code == "too_few_rows"
    assert caught.value.params == {"rows": 20, "minimum": MIN_TRAINING_ROWS}


def test_one_class_left_after_dropping_rows_is_refused():
    frame = csv_frame({"x": ["1"] * 40 + ["oops"] * 10, "y": ["a"] * 40 + ["b"] * 10})
    schema = DatasetSchema.from_dict(
        {
            "target": "y",
            "task": "classification",
            "columns": [{"name": "x", "type": "integer"}],
        }
    )

    assert error_code(training_table, frame, schema) == "single_class"


# --- profile ----------------------------------------------------------------------------------


def test_a_regression_profile_describes_target_and_columns(cars):
    table = training_table(cars, suggest_schema(cars, target="Price"))
    calls = []

    summary = profile(table, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(done, 7) for done in range(1, 8)]
    assert summary["rows"] == ROWS
    assert summary["rows_dropped"] == 0
    target = summary["target"]
    assert (target["name"], target["task"]) == ("Price", "regression")
    assert set(target["stats"]) == {"min", "mean", "median", "max", "std"}
    assert sum(target["histogram"]["counts"]) == ROWS
    columns = {column["name"]: column for column in summary["columns"]}
    assert list(columns) == ["Mileage", "Engine", "Doors", "Leather", "Make", "Review"]
    mileage = columns["Mileage"]
    assert len(mileage["histogram"]["counts"]) <= 20
    assert len(mileage["histogram"]["edges"]) == len(mileage["histogram"]["counts"]) + 1
    assert mileage["association_measure"] == "spearman"
    assert mileage["association"] < -0.9  # price falls with mileage
    assert len(columns["Doors"]["histogram"]["counts"]) == 2
    make = columns["Make"]
    assert sum(value["count"] for value in make["top_values"]) + make["other_count"] == ROWS
    assert {value["value"] for value in columns["Leather"]["top_values"]} == {True, False}
    review = columns["Review"]
    assert review["lengths"]["words"]["stats"]["max"] == 9
    assert review["association_measure"] == "spearman_of_length"
    assert review["by_class"] == []
    assert review["tokens"][0]["count"] == ROWS


def test_a_classification_profile_shows_class_balance_and_words_per_class(reviews):
    schema = suggest_schema(reviews, target="Sentiment")
    table = training_table(reviews, revise_schema(reviews, schema, types={"Text": "text"}))

    summary = profile(table)

    target = summary["target"]
    counts = {entry["label"]: entry["count"] for entry in target["classes"]}
    assert counts["positive"] > counts["negative"]
    assert target["classes"][0]["label"] == "positive"
    assert target["imbalance_ratio"] == round(counts["positive"] / counts["negative"], 2)
    text = next(column for column in summary["columns"] if column["name"] == "Text")
    by_class = {entry["label"]: entry for entry in text["by_class"]}
    negative_tokens = {token["token"] for token in by_class["negative"]["tokens"]}
    assert {"awful", "плохо", "очень", "сегодня"} <= negative_tokens
    assert "great" not in negative_tokens
    negative_bigrams = {bigram["bigram"] for bigram in by_class["negative"]["bigrams"]}
    assert "очень плохо" in negative_bigrams
    characters = by_class["positive"]["characters"]
    assert len(characters["counts"]) == len(text["lengths"]["characters"]["histogram"]["counts"])
    assert sum(characters["counts"]) == counts["positive"]
    assert text["sampled"] is False


def test_stop_words_are_left_out_of_tokens():
    frame = csv_frame({"t": ["the cat and the dog", "и кот и пёс"] * 20, "y": ["a", "b"] * 20})
    schema = revise_schema(frame, suggest_schema(frame, target="y"), types={"t": "text"})

    text = profile(training_table(frame, schema))["columns"][0]

    tokens = {token["token"] for token in text["tokens"]}
    assert tokens == {"cat", "dog", "кот", "пёс"}


def association(summary: dict, name: str) -> tuple[str, float]:
    column = next(column for column in summary["columns"] if column["name"] == name)
    return column["association_measure"], column["association"]


def test_a_determining_feature_is_associated_and_noise_is_not():
    rng = np.random.default_rng(2)
    rows = 2_000
    group = rng.choice(["a", "b", "c", "d"], rows)
    level = pd.Series(group).map({"a": 1.0, "b": 5.0, "c": 9.0, "d": 13.0})
    measured = level + rng.normal(0, 0.01, rows)
    frame = pd.DataFrame(
        {
            "Group": group,
            "Level": measured,
            "Words": [" ".join(["w"] * int(value)) for value in level],
            "Noise": rng.normal(size=rows),
            "Shuffled": rng.choice(["a", "b", "c", "d"], rows),
            "Class": group,
            "Amount": measured * 10,
        },
    ).astype(object)
    by_class_frame, by_amount_frame = frame.drop(columns="Amount"), frame.drop(columns="Class")
    as_text = {"Words": "text"}  # four distinct texts would be suggested as a category
    classification = revise_schema(
        by_class_frame, suggest_schema(by_class_frame, target="Class"), types=as_text
    )
    regression = revise_schema(
        by_amount_frame, suggest_schema(by_amount_frame, target="Amount"), types=as_text
    )

    by_class = profile(training_table(by_class_frame, classification))
    by_amount = profile(training_table(by_amount_frame, regression))

    assert association(by_class, "Group") == ("cramers_v", pytest.approx(1.0, abs=0.01))
    assert association(by_class, "Level") == ("eta", pytest.approx(1.0, abs=0.01))
    assert association(by_class, "Words") == ("eta_of_length", pytest.approx(1.0, abs=0.01))
    assert association(by_amount, "Group") == ("eta", pytest.approx(1.0, abs=0.01))
    assert association(by_amount, "Level") == ("spearman", pytest.approx(1.0, abs=0.01))
    for summary in (by_class, by_amount):
        assert abs(association(summary, "Noise")[1]) < 0.1
        assert abs(association(summary, "Shuffled")[1]) < 0.1


def test_schema_and_profile_survive_json(reviews):
    schema = suggest_schema(reviews, target="Sentiment")

    assert DatasetSchema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
    json.dumps(profile(training_table(reviews, schema)), allow_nan=False)


def test_a_schema_with_an_unknown_task_is_refused(reviews):
    data = suggest_schema(reviews, target="Sentiment").to_dict()

    with pytest.raises(ValueError, match="unknown task"):
        DatasetSchema.from_dict({**data, "task": "clustering"})


def test_a_wide_table_profile_stays_small():
    rng = np.random.default_rng(3)
    rows = 1_000
    columns: dict[str, list] = {}
    for index in range(70):
        columns[f"number {index}"] = rng.normal(size=rows).round(4).tolist()
    for index in range(25):
        columns[f"category {index}"] = rng.choice(list("abcdefghijklmnop"), rows).tolist()
    vocabulary = [f"word{index}" for index in range(300)]
    for index in range(5):
        columns[f"text {index}"] = [" ".join(rng.choice(vocabulary, 12)) for _ in range(rows)]
    columns["y"] = rng.choice(["a", "b", "c"], rows).tolist()
    frame = csv_frame(columns)
    table = training_table(frame, suggest_schema(frame, target="y"))

    size = len(json.dumps(profile(table)))

    assert len(table.schema.columns) == 100
    assert size < 300_000


def test_a_hundred_thousand_rows_are_profiled_with_sampled_text():
    rng = np.random.default_rng(4)
    rows = 100_000
    words = np.array(["good", "bad", "fine", "хорошо", "плохо", "very", "not", "tasty"])
    columns: dict[str, np.ndarray] = {
        f"n{index}": rng.normal(size=rows).round(3).astype(str) for index in range(12)
    }
    for index in range(5):
        columns[f"c{index}"] = rng.choice(["x", "y", "z", "w"], rows)
    columns["b"] = rng.choice(["yes", "no"], rows)
    columns["text"] = pd.Series(rng.choice(words, (rows, 6)).tolist()).str.join(" ").to_numpy()
    columns["id"] = np.arange(rows).astype(str)
    columns["label"] = rng.choice(["pos", "neg", "neutral"], rows)
    frame = pd.DataFrame(columns, dtype=object)
    schema = suggest_schema(frame, target="label")

    summary = profile(training_table(frame, schema))

    assert summary["rows"] == rows
    assert len(summary["columns"]) == 20
    assert summary["sampled"] is True
    assert schema.notes["id"] == "identifier"
