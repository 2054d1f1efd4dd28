import math

import numpy as np
import pandas as pd
import pytest

from predictions.ml.schema import Column, ColumnType, InputSchema, derive_schema
from predictions.ml.validation import inputs_for_output, validate_record, validate_rows


@pytest.fixture
def training_frame():
    return pd.DataFrame(
        {
            "Mileage": [8221, 9135, 13196, 16342, 19832, np.nan],
            "Doors": [4, 2, 4, 4, 2, 4],
            "Make": ["Buick", "Cadillac", "Chevrolet", "Buick", "Saab", "Saab"],
            "Leather": [True, False, True, True, False, False],
            "Review": [f"a long free text review of this car, number {i}" for i in range(6)],
            "Price": [22661.0, 21725.0, 29143.0, 30731.0, 33358.0, 30315.0],
        }
    )


def test_schema_derives_types_required_categories_and_ranges(training_frame):
    schema = derive_schema(
        training_frame,
        target="Price",
        descriptions={"Mileage": {"en": "Miles driven", "ru": "Пробег, мили"}},
    )
    assert schema.names == ["Mileage", "Doors", "Make", "Leather", "Review"]
    mileage = schema.column("Mileage")
    assert mileage.type == ColumnType.INTEGER
    assert mileage.required is False  # a value is missing in training
    assert mileage.minimum == 0
    assert mileage.maximum >= 19832
    assert mileage.describe("ru") == "Пробег, мили"
    assert mileage.describe("de") == "Miles driven"
    assert schema.column("Doors").required is True
    assert schema.column("Make").type == ColumnType.CATEGORY
    assert schema.column("Make").categories == ("Buick", "Cadillac", "Chevrolet", "Saab")
    assert schema.column("Leather").type == ColumnType.BOOLEAN
    assert schema.column("Review").type == ColumnType.TEXT


def test_schema_round_trips_through_json(training_frame):
    schema = derive_schema(training_frame, target="Price")
    assert InputSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize(
    "data", [{}, {"columns": []}, {"columns": [{"name": "a", "type": "colour"}]}, []]
)
def test_a_broken_schema_is_refused(data):
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError)):
        InputSchema.from_dict(data)


SCHEMA = InputSchema(
    columns=(
        Column("Mileage", ColumnType.NUMBER, required=True, minimum=0, maximum=100_000),
        Column("Doors", ColumnType.INTEGER, required=False, minimum=2, maximum=5),
        Column("Make", ColumnType.CATEGORY, required=True, categories=("Buick", "Saab")),
        Column("Leather", ColumnType.BOOLEAN, required=False),
        Column("Review", ColumnType.TEXT, required=False),
    )
)


def test_valid_rows_are_typed_as_the_model_expects():
    frame = pd.DataFrame(
        {
            "Mileage": ["12 500", 8000.0],
            "Doors": ["4", None],
            "Make": ["saab", " BUICK "],
            "Leather": ["да", "no"],
            "Review": ["fine car", ""],
        },
        dtype="object",
    )
    checked = validate_rows(frame, SCHEMA)
    assert checked.problems == []
    assert checked.valid.tolist() == [True, True]
    assert checked.frame["Mileage"].tolist() == [12500.0, 8000.0]
    assert checked.frame["Doors"].iloc[0] == 4
    assert math.isnan(checked.frame["Doors"].iloc[1])
    assert checked.frame["Make"].tolist() == ["Saab", "Buick"]
    assert checked.frame["Leather"].tolist() == [1.0, 0.0]
    assert checked.frame["Review"].iloc[0] == "fine car"
    assert pd.isna(checked.frame["Review"].iloc[1])


def test_each_problem_names_its_row_and_column_and_the_file_goes_on():
    frame = pd.DataFrame(
        {
            "Mileage": ["lots", 500_000, 10, None],
            "Doors": [4, 3.5, 4, 4],
            "Make": ["Saab", "Lada", "Saab", "Saab"],
            "Leather": ["maybe", True, False, True],
        },
        dtype="object",
    )
    checked = validate_rows(frame, SCHEMA)
    found = {(p.row, p.column, p.code) for p in checked.problems}
    assert found == {
        (2, "Mileage", "not_a_number"),
        (2, "Leather", "not_a_boolean"),
        (3, "Mileage", "out_of_range"),
        (3, "Doors", "not_an_integer"),
        (3, "Make", "unknown_category"),
        (5, "Mileage", "required"),
    }
    assert checked.valid.tolist() == [False, False, True, False]
    errors = checked.errors_by_row()
    assert errors[2] is None
    assert "Mileage: 'lots' is not a number" in errors[0]
    assert "Make: 'Lada' is not one of Buick, Saab" in errors[1]
    assert checked.rows_valid == 1
    assert checked.rows_failed == 3


def test_an_optional_column_may_be_absent():
    frame = pd.DataFrame({"Mileage": [1.0], "Make": ["Saab"]}, dtype="object")
    checked = validate_rows(frame, SCHEMA)
    assert checked.valid.tolist() == [True]
    assert math.isnan(checked.frame["Doors"].iloc[0])


def test_a_category_read_back_as_a_number_matches_its_label():
    schema = InputSchema(columns=(Column("Cylinder", ColumnType.CATEGORY, categories=("4", "6")),))
    checked = validate_rows(pd.DataFrame({"Cylinder": [4.0, "6", 8]}, dtype="object"), schema)
    assert checked.frame["Cylinder"].tolist()[:2] == ["4", "6"]
    assert checked.valid.tolist() == [True, True, False]


def test_one_record_from_a_form_or_json_matches_keys_loosely():
    checked = validate_record({"mileage": 100, "MAKE": "buick", "doors": "2"}, SCHEMA)
    assert checked.valid.tolist() == [True]
    assert checked.frame["Make"].iloc[0] == "Buick"
    missing = validate_record({"Make": "Saab"}, SCHEMA)
    assert [(p.row, p.column, p.code) for p in missing.problems] == [(1, "Mileage", "required")]


def test_problems_point_at_the_files_own_row_numbers(tmp_path):
    from predictions.ml.reading import read_table

    path = tmp_path / "cars.csv"
    path.write_text("Mileage,Make\n100,Saab\n\n\n200,Lada\n")
    table = read_table(path, schema=SCHEMA)
    checked = validate_rows(table.frame, SCHEMA)
    assert [(p.row, p.column) for p in checked.problems] == [(5, "Make")]
    assert checked.errors_by_row()[0] is None


def test_a_result_echoes_text_read_numbers_and_flags_as_numbers_and_flags():
    schema = InputSchema(
        columns=(
            Column("Mileage", ColumnType.INTEGER),
            Column("Cruise", ColumnType.BOOLEAN),
            Column("Make", ColumnType.CATEGORY, categories=("Saab",)),
        )
    )
    raw = pd.DataFrame(
        {"Mileage": ["8033", "lots", "12"], "Cruise": ["yes", "0", "maybe"], "Make": ["Saab"] * 3},
        dtype="object",
    )
    echoed = inputs_for_output(raw, validate_rows(raw, schema), schema)
    assert echoed["Mileage"].tolist() == [8033, "lots", 12]
    assert echoed["Cruise"].tolist() == [True, False, "maybe"]
    assert echoed["Make"].tolist() == ["Saab"] * 3
