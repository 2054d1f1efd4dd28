"""Excel writing: the batch result and the customers' template (pure, no database)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from predictions.ml.schema import Column, ColumnType, InputSchema
from predictions.ml.writing import (
    ELLIPSIS,
    EXCEL_MAX_CELL_CHARS,
    FORMULA_TRIGGERS,
    LISTS_SHEET,
    fit_cell_text,
    write_result,
    write_template,
)

ROOT = Path(__file__).resolve().parents[3]
FORMULA_LIKE = [
    *(f"{trigger}x" for trigger in FORMULA_TRIGGERS),
    "=1+1",
    "+7",
    "-x",
    "@SUM(A1)",
    "\tx",
    "\rx",
    '=HYPERLINK("http://example.com","click")',
    "=cmd|' /C calc'!A0",
    "{=SUM(A1:A2)}",
    "http://example.com",
    "123",
    "1e5",
    "_x000D_",
]


def excel_text(value: str) -> str:
    """A stored string as Excel shows it: OOXML's _xHHHH_ escapes decoded (openpyxl keeps
    them literally)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), value)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = [name for name in archive.namelist() if name.startswith("xl/worksheets/sheet")]
        return "".join(archive.read(name).decode() for name in names)


def assert_no_formulas(path: Path) -> None:
    workbook = openpyxl.load_workbook(path)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (cell.coordinate, cell.value)
    assert not re.search(r"<f[ >]", sheet_xml(path))


def load(path: Path):
    return openpyxl.load_workbook(path).worksheets[0]


def rows(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def result(tmp_path: Path, inputs: pd.DataFrame, predictions=None, errors=None, **kwargs) -> Path:
    path = tmp_path / "result.xlsx"
    predictions = pd.DataFrame(index=range(len(inputs))) if predictions is None else predictions
    errors = [None] * len(inputs) if errors is None else errors
    write_result(path, inputs=inputs, predictions=predictions, errors=errors, **kwargs)
    return path


# --- result ------------------------------------------------------------------------------------


def test_result_columns_header_and_values_round_trip(tmp_path):
    inputs = pd.DataFrame(
        {
            "Mileage": [8221, 9135, 13196],
            "Make": ["Buick", "Cadillac", "Chevrolet"],
            "Liter": [3.1, 2.8, 4.6],
            "Leather": [True, False, True],
        }
    )
    predictions = pd.DataFrame({"price": [22661.05, 21725.01, 29142.71], "class": ["a", "b", "a"]})
    errors = [None, "Mileage: must be at least 0", None]
    path = result(tmp_path, inputs, predictions, errors)

    sheet = load(path)
    assert rows(sheet) == [
        ["Mileage", "Make", "Liter", "Leather", "price", "class", "error"],
        [8221, "Buick", 3.1, True, 22661.05, "a", None],
        [9135, "Cadillac", 2.8, False, 21725.01, "b", "Mileage: must be at least 0"],
        [13196, "Chevrolet", 4.6, True, 29142.71, "a", None],
    ]
    assert [cell.data_type for cell in sheet[2]] == ["n", "s", "n", "b", "n", "s", "n"]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G4"
    assert all(8 <= sheet.column_dimensions[letter].width <= 61 for letter in "ABCDEFG")


def test_result_error_header_and_messages(tmp_path):
    inputs = pd.DataFrame({"x": [1, 2, 3]})
    errors = ["=not a formula", None, "x: обязательное поле"]
    path = result(tmp_path, inputs, errors=errors, error_header="ошибка")
    assert rows(load(path)) == [
        ["x", "ошибка"],
        [1, "=not a formula"],
        [2, None],
        [3, "x: обязательное поле"],
    ]


@pytest.mark.parametrize("text", FORMULA_LIKE)
def test_formula_like_text_stays_text_everywhere(tmp_path, text):
    inputs = pd.DataFrame({text: [text, "plain"], "n": [1, 2]})
    predictions = pd.DataFrame({"label": [text, "ok"]})
    path = result(tmp_path, inputs, predictions, errors=[text, None])

    sheet = load(path)
    header, first = sheet[1], sheet[2]
    for cell in (header[0], first[0], first[2], first[3]):
        assert cell.data_type == "s", (cell.coordinate, cell.value)
        assert excel_text(cell.value) == text
    assert_no_formulas(path)


def test_formula_like_text_in_a_large_mixed_object_column(tmp_path):
    values = [FORMULA_LIKE[i % len(FORMULA_LIKE)] for i in range(500)]
    values[7] = 12.5  # an object column that also holds a number and a missing value
    values[8] = None
    path = result(tmp_path, pd.DataFrame({"v": values}))
    cells = [row[0] for row in load(path).iter_rows(min_row=2)]
    assert cells[7].value == 12.5
    assert cells[7].data_type == "n"
    assert cells[8].value is None
    others = [cell for i, cell in enumerate(cells) if i not in (7, 8)]
    assert {cell.data_type for cell in others} == {"s"}
    assert_no_formulas(path)


def test_numbers_booleans_and_dates_keep_their_types(tmp_path):
    inputs = pd.DataFrame(
        {
            "int": np.array([1, -2, 3], dtype=np.int64),
            "small": np.array([1, 2, 3], dtype=np.uint8),
            "float": [0.5, -1.25, 1e300],
            "bool": [True, False, True],
            "when": pd.to_datetime(["2024-03-01 10:30", "2024-03-02 00:00", "2024-03-03 23:59"]),
            "day": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"]),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "category": pd.Categorical(["a", "b", "a"]),
            "numpy_objects": pd.Series(
                [np.float64(1.5), np.int32(7), np.bool_(True)], dtype=object
            ),
        }
    )
    sheet = load(result(tmp_path, inputs))
    values = rows(sheet)
    when, day = dt.datetime(2024, 3, 1, 10, 30), dt.datetime(2024, 3, 1)
    assert values[1] == [1, 1, 0.5, True, when, day, 1, "a", 1.5, None]
    assert values[2][:4] == [-2, 2, -1.25, False]
    assert values[2][6] is None
    assert values[3][2] == 1e300
    assert values[3][8] is True
    assert [cell.data_type for cell in sheet[2]][:9] == [
        "n",
        "n",
        "n",
        "b",
        "d",
        "d",
        "n",
        "s",
        "n",
    ]
    assert "hh:mm" in sheet["E2"].number_format
    assert sheet["F2"].number_format == "yyyy-mm-dd"


def test_timezones_old_dates_and_timedeltas(tmp_path):
    inputs = pd.DataFrame(
        {
            "aware": pd.to_datetime(["2024-03-01 10:30"]).tz_localize("Europe/Moscow"),
            "old": [dt.date(1812, 9, 7)],
            "span": [pd.Timedelta(hours=36)],
            "time": [dt.time(8, 15)],
        }
    )
    sheet = load(result(tmp_path, inputs))
    assert sheet["A2"].value == dt.datetime(2024, 3, 1, 10, 30)  # the wall-clock time
    assert sheet["B2"].value == "1812-09-07"
    assert sheet["C2"].value == "1 days 12:00:00"
    assert sheet["D2"].value == dt.time(8, 15)


def test_odd_scalars_in_an_object_column(tmp_path):
    values = [
        Decimal("1.5"),
        Decimal("NaN"),
        np.timedelta64("NaT"),  # an integer type to numpy
        np.timedelta64(5, "s"),
        np.datetime64("2020-01-02T03:04"),
        "жёлтый".encode(),
        dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC),
        complex(1, 2),
    ]
    sheet = load(result(tmp_path, pd.DataFrame({"v": pd.Series(values, dtype=object)})))
    assert [row[0] for row in rows(sheet)[1:]] == [
        1.5,
        None,
        None,
        "0 days 00:00:05",
        dt.datetime(2020, 1, 2, 3, 4),
        "жёлтый",
        dt.datetime(2020, 1, 1, 12),
        "(1+2j)",
    ]


def test_missing_values_are_empty_cells(tmp_path):
    inputs = pd.DataFrame(
        {
            "float": [np.nan, 1.0],
            "object": [None, "x"],
            "na": pd.Series([pd.NA, "y"], dtype=object),
            "nat": pd.to_datetime([None, "2024-01-01"]),
            "empty": ["", "z"],
            "string": pd.Series([None, "w"], dtype="string"),
            "nullable_bool": pd.array([None, True], dtype="boolean"),
        }
    )
    sheet = load(result(tmp_path, inputs))
    assert rows(sheet)[1] == [None] * 8
    assert 'r="A2"' not in sheet_xml(tmp_path / "result.xlsx")  # nothing written at all
    assert rows(sheet)[2][:7] == [1.0, "x", "y", dt.datetime(2024, 1, 1), "z", "w", True]


def test_infinities_become_text(tmp_path):
    sheet = load(result(tmp_path, pd.DataFrame({"v": [np.inf, -np.inf, 2.0]})))
    assert [row[0] for row in rows(sheet)[1:]] == ["inf", "-inf", 2.0]
    assert sheet["A3"].data_type == "s"


def test_integers_beyond_2_53_are_exact_text(tmp_path):
    big = 2**53 + 1
    inputs = pd.DataFrame(
        {
            "int64": np.array([2**53, big, -big], dtype=np.int64),
            "uint64": np.array([1, 2**64 - 1, 3], dtype=np.uint64),
            "python": pd.Series([10**30, 5, None], dtype=object),
        }
    )
    sheet = load(result(tmp_path, inputs))
    assert rows(sheet)[1:] == [
        [2**53, 1, str(10**30), None],
        [str(big), str(2**64 - 1), 5, None],
        [str(-big), 3, None, None],
    ]
    assert sheet["A2"].data_type == "n"
    assert sheet["A3"].data_type == "s"


def test_a_40000_character_string_is_cut_with_an_ellipsis(tmp_path):
    long = "".join(chr(ord("a") + i % 26) for i in range(40_000))
    sheet = load(result(tmp_path, pd.DataFrame({"text": [long, "short"]})))
    written = sheet["A2"].value
    assert len(written) == EXCEL_MAX_CELL_CHARS
    assert written == long[: EXCEL_MAX_CELL_CHARS - 1] + ELLIPSIS
    assert sheet["A3"].value == "short"


def test_the_cut_counts_utf16_units_and_never_splits_a_pair():
    emoji = "😀" * 20_000  # 40,000 UTF-16 code units in 20,000 characters
    cut = fit_cell_text(emoji)
    assert cut.endswith(ELLIPSIS)
    assert utf16_length(cut) <= EXCEL_MAX_CELL_CHARS
    assert set(cut[:-1]) == {"😀"}
    exact = "я" * EXCEL_MAX_CELL_CHARS
    assert fit_cell_text(exact) is exact


def test_cyrillic_text_round_trips(tmp_path):
    inputs = pd.DataFrame({"Марка": ["Жигули", "«Волга» ГАЗ-21"], "Пробег": [1, 2]})
    predictions = pd.DataFrame({"цена": [1.5, 2.5]})
    path = result(tmp_path, inputs, predictions, errors=[None, "Пробег: слишком много"])
    assert rows(load(path)) == [
        ["Марка", "Пробег", "цена", "error"],
        ["Жигули", 1, 1.5, None],
        ["«Волга» ГАЗ-21", 2, 2.5, "Пробег: слишком много"],
    ]


def test_rows_are_matched_by_position_not_index(tmp_path):
    inputs = pd.DataFrame({"x": [1, 2]}, index=[10, 20])
    predictions = pd.DataFrame({"y": [3, 4]})
    assert rows(load(result(tmp_path, inputs, predictions)))[1:] == [[1, 3, None], [2, 4, None]]


def test_duplicate_and_non_text_column_names(tmp_path):
    inputs = pd.DataFrame([[1, 2, 3]], columns=["a", "a", 7])
    assert rows(load(result(tmp_path, inputs)))[0] == ["a", "a", "7", "error"]


def test_header_only_when_there_are_no_rows(tmp_path):
    sheet = load(result(tmp_path, pd.DataFrame({"x": pd.Series([], dtype=float)})))
    assert rows(sheet) == [["x", "error"]]


def test_lengths_must_match_and_nothing_is_left_behind(tmp_path):
    path = tmp_path / "result.xlsx"
    with pytest.raises(ValueError, match="differ in length"):
        write_result(
            path,
            inputs=pd.DataFrame({"x": [1, 2]}),
            predictions=pd.DataFrame({"y": [1]}),
            errors=[None, None],
        )
    assert not path.exists()


def test_a_failure_while_writing_removes_the_file(tmp_path):
    path = tmp_path / "result.xlsx"
    with pytest.raises(TypeError):
        write_result(
            path,
            inputs=pd.DataFrame({"x": [1]}),
            predictions=pd.DataFrame({"y": [1]}),
            errors=[None],
            error_header=None,  # type: ignore[arg-type]
        )
    assert not path.exists()


# --- template ----------------------------------------------------------------------------------

MAKES = ("Buick", "Cadillac", "Chevrolet", "Pontiac", "SAAB", "Saturn")
MODELS = tuple(f"Модель номер {i:03d}" for i in range(40))  # far over 255 characters


def schema() -> InputSchema:
    return InputSchema(
        columns=(
            Column(
                name="Mileage",
                type=ColumnType.INTEGER,
                minimum=266,
                maximum=50387,
                description={"en": "Distance driven, miles", "ru": "Пробег, мили"},
                example=20000,
            ),
            Column(
                name="Make",
                type=ColumnType.CATEGORY,
                categories=MAKES,
                description={"en": "Manufacturer", "ru": "Производитель"},
                example="Chevrolet",
            ),
            Column(
                name="Model",
                type=ColumnType.CATEGORY,
                categories=MODELS,
                required=False,
                description={"en": "Model name", "ru": "Название модели"},
                example=MODELS[3],
            ),
            Column(
                name="Liter",
                type=ColumnType.NUMBER,
                minimum=1.6,
                description={"en": "Engine size", "ru": "Объём двигателя"},
                example=3.1,
            ),
            Column(name="Score", type=ColumnType.NUMBER, required=False, example=None),
            Column(
                name="Leather",
                type=ColumnType.BOOLEAN,
                description={"en": "Leather seats"},
                example=True,
            ),
            Column(
                name="=Notes",
                type=ColumnType.TEXT,
                required=False,
                description={"en": "Free text"},
                example="-starts like a formula",
            ),
            Column(
                name="Cylinder",
                type=ColumnType.CATEGORY,
                categories=("4", "6", "8"),
                example="6",
            ),
        )
    )


@pytest.fixture
def template(tmp_path) -> Path:
    path = tmp_path / "template.xlsx"
    write_template(path, schema=schema(), language="en")
    return path


def validations(sheet) -> dict[str, object]:
    return {str(rule.sqref): rule for rule in sheet.data_validations.dataValidation}


def error_style(rule) -> str:
    return rule.errorStyle or "stop"  # the OOXML default is left out of the file


def operator(rule) -> str:
    return rule.operator or "between"  # likewise


def test_template_header_and_example_row(template):
    workbook = openpyxl.load_workbook(template)
    sheet = workbook.worksheets[0]
    assert workbook.active.title == sheet.title
    names = [column.name for column in schema().columns]
    values = rows(sheet)
    assert values[0] == names
    example = [20000, "Chevrolet", MODELS[3], 3.1, None, True, "-starts like a formula", "6"]
    assert values[1] == example
    assert len(values) == 2
    assert all(cell.font.b for cell in sheet[1])
    assert [cell.data_type for cell in sheet[2]] == ["n", "s", "s", "n", "n", "b", "s", "s"]
    assert sheet.freeze_panes == "A2"
    assert_no_formulas(template)


def test_template_list_validation_per_category_column(template):
    workbook = openpyxl.load_workbook(template)
    sheet = workbook.worksheets[0]
    rules = validations(sheet)

    make = rules["B2:B1048576"]
    assert make.type == "list"
    assert make.formula1 == '"' + ",".join(MAKES) + '"'
    assert error_style(make) == "stop"

    cylinder = rules["H2:H1048576"]
    assert cylinder.type == "list"
    assert cylinder.formula1 == '"4,6,8"'


def test_template_long_category_list_lives_on_a_hidden_sheet(template):
    workbook = openpyxl.load_workbook(template)
    model = validations(workbook.worksheets[0])["C2:C1048576"]
    assert len(",".join(MODELS)) > 255
    assert model.type == "list"
    assert model.formula1 == f"{LISTS_SHEET}!$A$1:$A${len(MODELS)}"
    lists = workbook[LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    assert [row[0] for row in lists.iter_rows(values_only=True)] == list(MODELS)
    assert {cell.data_type for (cell,) in lists.iter_rows()} == {"s"}


def test_template_list_values_with_commas_or_quotes_use_the_hidden_sheet(tmp_path):
    path = tmp_path / "template.xlsx"
    odd = ("a, b", 'say "hi"', "=1+1", " padded")
    columns = (Column(name="odd", type=ColumnType.CATEGORY, categories=odd, example="a, b"),)
    write_template(path, schema=InputSchema(columns=columns))
    workbook = openpyxl.load_workbook(path)
    rule = validations(workbook.worksheets[0])["A2:A1048576"]
    assert rule.formula1 == f"{LISTS_SHEET}!$A$1:$A$4"
    assert [row[0] for row in workbook[LISTS_SHEET].iter_rows(values_only=True)] == list(odd)
    assert_no_formulas(path)


def test_template_number_validation_is_a_warning_with_the_known_bounds(template):
    rules = validations(openpyxl.load_workbook(template).worksheets[0])
    mileage = rules["A2:A1048576"]
    assert (mileage.type, operator(mileage)) == ("whole", "between")
    assert (mileage.formula1, mileage.formula2) == ("266", "50387")
    assert error_style(mileage) == "warning"

    liter = rules["D2:D1048576"]
    assert (liter.type, operator(liter), liter.formula1) == ("decimal", "greaterThanOrEqual", "1.6")
    assert error_style(liter) == "warning"

    score = rules["E2:E1048576"]  # no bounds known: the type only
    assert (score.type, operator(score)) == ("decimal", "between")
    assert error_style(score) == "warning"

    assert "G2:G1048576" not in rules  # free text


def test_template_comments_describe_each_column(template):
    sheet = openpyxl.load_workbook(template).worksheets[0]
    comments = {cell.value: cell.comment.text for cell in sheet[1]}
    assert "Distance driven, miles" in comments["Mileage"]
    assert "from 266 to 50387" in comments["Mileage"]
    assert "whole number" in comments["Mileage"]
    assert "Required." in comments["Mileage"]
    assert "Buick, Cadillac" in comments["Make"]
    assert "Optional" in comments["Model"]
    assert "20 more" in comments["Model"]
    assert "from 1.6" in comments["Liter"]
    assert "Free text" in comments["=Notes"]


def test_template_comments_in_russian(tmp_path):
    path = tmp_path / "template.xlsx"
    write_template(path, schema=schema(), language="ru")
    sheet = openpyxl.load_workbook(path).worksheets[0]
    comments = {cell.value: cell.comment.text for cell in sheet[1]}
    assert comments["Mileage"].startswith("Пробег, мили")
    assert "целое число" in comments["Mileage"]
    assert "Производитель" in comments["Make"]
    assert "Необязательное" in comments["Model"]
    assert "Leather seats" in comments["Leather"]  # no Russian text: the English one
    assert "Distance driven" not in comments["Mileage"]


def test_template_without_long_lists_has_no_hidden_sheet(tmp_path):
    path = tmp_path / "template.xlsx"
    columns = (Column(name="Make", type=ColumnType.CATEGORY, categories=MAKES, example="SAAB"),)
    write_template(path, schema=InputSchema(columns=columns))
    assert openpyxl.load_workbook(path).sheetnames == ["data"]


def test_the_package_imports_nothing_of_django():
    code = (
        "import sys, predictions.ml.writing; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'django'); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
