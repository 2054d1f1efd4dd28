"""Excel files we write: the result of a batch job and the template customers fill in.

Both are written with xlsxwriter. Safety rules that hold for every cell:

- Text is data. Every text cell (values, headers, error messages, the template's example and
  category lists) goes through `Worksheet.write_string`, and the workbook options switch off
  xlsxwriter's guessing (`strings_to_formulas`, `strings_to_urls`, `strings_to_numbers`), so a
  value starting with one of `FORMULA_TRIGGERS` is stored as a string, never as a formula.
- Types are kept: numbers as numbers, booleans as booleans, dates and times as Excel dates with
  a number format; missing values (None, NaN, pd.NA, NaT) and empty strings as empty cells.
  Integers beyond 2**53 are written as text, because an Excel number (a double) would round
  them. Infinities become the text "inf" / "-inf" (Excel has no such number). Timezone-aware
  datetimes are written as their wall-clock time without the zone; dates before 1900 (which
  Excel cannot show) and time spans as ISO text.
- Excel keeps at most 32,767 characters (UTF-16 code units) in a cell. Longer text is cut to
  32,766 units and ends with "…" (`ELLIPSIS`), so a reader sees that it was cut; xlsxwriter on
  its own would cut silently.

The result is written in xlsxwriter's constant-memory mode (one row in memory at a time). For
speed the columns are normalised once, column by column, and each row goes out with one
`write_row` call; write handlers route text to `write_string` and dates to `write_datetime`
with their format.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import quote_sheetname, xl_range_abs
from xlsxwriter.worksheet import Worksheet

from .schema import Column, ColumnType, InputSchema

# The first characters that make Excel, LibreOffice and Google Sheets read a typed or
# imported value as a formula (CSV injection). Nothing written here can become a formula,
# whatever it starts with; the tests check every one of these.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_CELL_CHARS = 32_767  # UTF-16 code units
ELLIPSIS = "…"
MAX_EXACT_INT = 2**53  # larger integers do not survive as an Excel number (a double)
EXCEL_FIRST_DATE = dt.date(1900, 1, 1)

RESULT_SHEET = "result"
TEMPLATE_SHEET = "data"
LISTS_SHEET = "lists"
LIST_LITERAL_MAX_CHARS = 255  # Excel's cap on a list validation's literal "a,b,c"

DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "hh:mm:ss"

RESULT_WORKBOOK_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": False,
}
TEMPLATE_WORKBOOK_OPTIONS: dict[str, Any] = {**RESULT_WORKBOOK_OPTIONS, "constant_memory": False}

MIN_COLUMN_WIDTH = 8
MAX_COLUMN_WIDTH = 60
WIDTH_SAMPLE_ROWS = 200
COMMENT_MAX_CATEGORIES = 20
VALIDATION_MESSAGE_MAX = 255  # Excel's cap on a validation's error message
VALIDATION_TITLE_MAX = 32
UNBOUNDED = 1e300  # bounds of a number validation that only checks the type

# Text a value would need fewer characters than this to be within the cell limit for sure:
# one character is at most two UTF-16 code units.
_SAFE_TEXT_LENGTH = EXCEL_MAX_CELL_CHARS // 2

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "type": "Type",
        "range": "Range",
        "from": "from {minimum}",
        "to": "to {maximum}",
        "values": "Allowed values",
        "more": "… and {count} more (see the drop-down list)",
        "optional": "Optional: may be left empty.",
        "required": "Required.",
        "error_title": "Check the value",
        "expect_number": "Expected a number",
        "expect_integer": "Expected a whole number",
        "expect_category": "Choose a value from the list.",
        "expect_boolean": "Expected TRUE or FALSE.",
        ColumnType.NUMBER: "number",
        ColumnType.INTEGER: "whole number",
        ColumnType.CATEGORY: "one of a list",
        ColumnType.TEXT: "text",
        ColumnType.BOOLEAN: "TRUE or FALSE",
    },
    "ru": {
        "type": "Тип",
        "range": "Диапазон",
        "from": "от {minimum}",
        "to": "до {maximum}",
        "values": "Допустимые значения",
        "more": "… и ещё {count} (см. выпадающий список)",
        "optional": "Необязательное: можно оставить пустым.",
        "required": "Обязательное.",
        "error_title": "Проверьте значение",
        "expect_number": "Ожидается число",
        "expect_integer": "Ожидается целое число",
        "expect_category": "Выберите значение из списка.",
        "expect_boolean": "Ожидается TRUE или FALSE.",
        ColumnType.NUMBER: "число",
        ColumnType.INTEGER: "целое число",
        ColumnType.CATEGORY: "значение из списка",
        ColumnType.TEXT: "текст",
        ColumnType.BOOLEAN: "TRUE или FALSE",
    },
}


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit_cell_text(text: str) -> str:
    """`text` as it fits one Excel cell: unchanged when it is within 32,767 UTF-16 code units,
    otherwise cut to 32,766 units (never inside a surrogate pair) followed by "…"."""
    if len(text) <= _SAFE_TEXT_LENGTH or _utf16_length(text) <= EXCEL_MAX_CELL_CHARS:
        return text
    keep = (EXCEL_MAX_CELL_CHARS - len(ELLIPSIS)) * 2
    head = text.encode("utf-16-le", "surrogatepass")[:keep]
    return head.decode("utf-16-le", "ignore") + ELLIPSIS


def _text(text: str) -> str | None:
    return fit_cell_text(text) if text else None


def _exact_int(value: int) -> int | str:
    return value if -MAX_EXACT_INT <= value <= MAX_EXACT_INT else str(value)


def _real(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _datetime(value: dt.datetime) -> dt.datetime | str:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value if value.date() >= EXCEL_FIRST_DATE else value.isoformat()


def _cell_value(value: Any) -> Any:
    """One value as the writers store it: None (empty), bool, int, float, str, or a naive
    datetime/date/time. See the module's docstring for the rules."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if value.__class__ is str:
        return _text(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.datetime64):
        return _cell_value(pd.Timestamp(value))
    if isinstance(value, dt.timedelta | np.timedelta64):  # np.timedelta64 is an integer type
        return None if pd.isna(value) else str(pd.Timedelta(value))
    if isinstance(value, numbers.Integral):
        return _exact_int(int(value))
    if isinstance(value, numbers.Real | Decimal):
        return _real(float(value))
    if isinstance(value, dt.datetime):
        return _datetime(value)
    if isinstance(value, dt.date):
        return value if value >= EXCEL_FIRST_DATE else value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, bytes):
        return _text(value.decode("utf-8", "replace"))
    return _text(str(value))


def _missing_to_none(values: list[Any], missing: np.ndarray) -> list[Any]:
    for index in np.flatnonzero(missing):
        values[index] = None
    return values


def _float_values(array: np.ndarray) -> list[Any]:
    values = array.tolist()
    for index in np.flatnonzero(~np.isfinite(array)):
        values[index] = _real(values[index])
    return values


def _int_values(array: np.ndarray) -> list[Any]:
    values = array.tolist()
    if array.size and (int(array.max()) > MAX_EXACT_INT or int(array.min()) < -MAX_EXACT_INT):
        values = [_exact_int(value) for value in values]
    return values


def _datetime_values(series: pd.Series) -> list[Any]:
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    missing = series.isna().to_numpy()
    present = series[~missing]
    if len(present) and (present < pd.Timestamp(EXCEL_FIRST_DATE)).any():
        return [_cell_value(value) for value in series.tolist()]
    if (present == present.dt.normalize()).all():  # midnight only: dates
        values = series.dt.date.tolist()
    else:
        with warnings.catch_warnings():  # "discarding nonzero nanoseconds"
            warnings.simplefilter("ignore", UserWarning)
            values = series.dt.to_pydatetime().tolist()
    return _missing_to_none(values, missing)


def _object_values(values: Iterable[Any]) -> list[Any]:
    # Plain short text is by far the most common object; it needs no call.
    return [
        value
        if value.__class__ is str and 0 < len(value) <= _SAFE_TEXT_LENGTH
        else _cell_value(value)
        for value in values
    ]


def _column_values(series: pd.Series) -> list[Any]:
    """The cells of one column, normalised by `_cell_value` (vectorised for numpy dtypes)."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetime_values(series)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b":
            return series.tolist()
        if dtype.kind in "iu":
            return _int_values(series.to_numpy())
        if dtype.kind == "f":
            return _float_values(series.to_numpy())
    if _only_plain_numbers(series):
        # Readers hand numbers over in object columns: write them the vectorised way.
        as_float = series.astype("float64").to_numpy()
        finite = as_float[np.isfinite(as_float)]
        if not finite.size or np.abs(finite).max() <= MAX_EXACT_INT:
            values = _float_values(as_float)
            return [None if value != value else value for value in values]
    return _object_values(series.astype(object).tolist())


def _only_plain_numbers(series: pd.Series) -> bool:
    kind = pd.api.types.infer_dtype(series, skipna=True)
    return kind in ("integer", "floating", "mixed-integer-float")


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------


def _column_width(header: str, values: Sequence[Any]) -> float:
    """A width from the header and the first rows (constant-memory mode cannot autofit)."""
    lengths = [len(header) + 2]  # room for the filter button
    for value in values[:WIDTH_SAMPLE_ROWS]:
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            lengths.append(len(DATETIME_FORMAT))
        elif isinstance(value, float):
            lengths.append(min(len(repr(value)), 14))
        else:
            lengths.append(len(str(value)))
    return float(min(max(max(lengths) + 1, MIN_COLUMN_WIDTH), MAX_COLUMN_WIDTH))


def _add_write_handlers(sheet: Worksheet, workbook: Workbook) -> None:
    """Make `write`/`write_row` send text to `write_string` (never a formula or a link, whatever
    the options) and dates to `write_datetime` with a readable format."""
    formats = {
        dt.datetime: workbook.add_format({"num_format": DATETIME_FORMAT}),
        dt.date: workbook.add_format({"num_format": DATE_FORMAT}),
        dt.time: workbook.add_format({"num_format": TIME_FORMAT}),
    }

    def date_writer(cell_format: Format) -> Callable[..., int]:
        def write_date(sheet: Worksheet, row: int, col: int, value: Any, _format=None) -> int:
            return sheet.write_datetime(row, col, value, cell_format)

        return write_date

    # A handler is called as handler(sheet, row, col, value, cell_format): write_string's own
    # signature, so the method itself serves (one Python call less per text cell).
    sheet.add_write_handler(str, Worksheet.write_string)
    for kind, cell_format in formats.items():
        sheet.add_write_handler(kind, date_writer(cell_format))


def _result_columns(
    inputs: pd.DataFrame,
    predictions: pd.DataFrame,
    errors: Sequence[str | None],
    error_header: str,
) -> tuple[list[str], list[list[Any]]]:
    rows = len(inputs)
    if len(predictions) != rows or len(errors) != rows:
        raise ValueError(
            f"inputs, predictions and errors differ in length: "
            f"{rows}, {len(predictions)}, {len(errors)}"
        )
    if rows >= EXCEL_MAX_ROWS:
        raise ValueError(f"{rows} rows and a header do not fit a sheet of {EXCEL_MAX_ROWS} rows")
    headers, columns = [], []
    for frame in (inputs, predictions):
        for index, name in enumerate(frame.columns):
            headers.append(str(name))
            columns.append(_column_values(frame.iloc[:, index]))
    headers.append(error_header)
    columns.append(_object_values(errors))
    if len(headers) > EXCEL_MAX_COLUMNS:
        raise ValueError(f"{len(headers)} columns do not fit a sheet of {EXCEL_MAX_COLUMNS}")
    return headers, columns


def _write_header(
    sheet: Worksheet, headers: Sequence[str], columns: Sequence[Sequence[Any]], bold: Format
) -> None:
    for col, (header, values) in enumerate(zip(headers, columns, strict=True)):
        sheet.set_column(col, col, _column_width(header, values))
        sheet.write_string(0, col, fit_cell_text(header), bold)
    sheet.freeze_panes(1, 0)


def write_result(
    path: Path,
    *,
    inputs: pd.DataFrame,
    predictions: pd.DataFrame,
    errors: Sequence[str | None],
    error_header: str = "error",
) -> None:
    """Write a batch job's result to `path` as one sheet: the input columns in order, then the
    prediction columns, then `error_header` with the message of each failed row (empty when the
    row was fine). Rows are matched by position, not by index. Raises ValueError when the
    lengths differ or the table does not fit a sheet; a partly written file is removed."""
    headers, columns = _result_columns(inputs, predictions, errors, error_header)
    workbook = Workbook(str(path), RESULT_WORKBOOK_OPTIONS)
    try:
        sheet = workbook.add_worksheet(RESULT_SHEET)
        _add_write_handlers(sheet, workbook)
        _write_header(sheet, headers, columns, workbook.add_format({"bold": True}))
        sheet.autofilter(0, 0, len(inputs), len(headers) - 1)
        write_row = sheet.write_row
        for row, cells in enumerate(zip(*columns, strict=True), start=1):
            if write_row(row, 0, cells):
                raise RuntimeError(f"xlsxwriter refused row {row}")
    except BaseException:
        with contextlib.suppress(Exception):
            workbook.close()
        path.unlink(missing_ok=True)
        raise
    workbook.close()


# ---------------------------------------------------------------------------------------------
# Template
# ---------------------------------------------------------------------------------------------


def _labels(language: str) -> dict[str, str]:
    return _LABELS.get(language, _LABELS["en"])


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _range_text(column: Column, labels: dict[str, str]) -> str:
    parts = []
    if column.minimum is not None:
        parts.append(labels["from"].format(minimum=_number_text(column.minimum)))
    if column.maximum is not None:
        parts.append(labels["to"].format(maximum=_number_text(column.maximum)))
    return " ".join(parts)


def _comment_text(column: Column, language: str) -> str:
    """The header's comment: description, type, allowed range or values, optional or not."""
    labels = _labels(language)
    lines = [column.describe(language)] if column.describe(language) else []
    lines.append(f"{labels['type']}: {labels[column.type]}")
    bounds = _range_text(column, labels)
    if bounds:
        lines.append(f"{labels['range']}: {bounds}")
    if column.categories:
        shown = ", ".join(column.categories[:COMMENT_MAX_CATEGORIES])
        hidden = len(column.categories) - COMMENT_MAX_CATEGORIES
        more = " " + labels["more"].format(count=hidden) if hidden > 0 else ""
        lines.append(f"{labels['values']}: {shown}{more}")
    lines.append(labels["required"] if column.required else labels["optional"])
    return fit_cell_text("\n".join(lines))


def _comment_options(text: str) -> dict[str, float]:
    lines = sum(1 + len(line) // 50 for line in text.splitlines())
    return {"x_scale": 2.5, "y_scale": max(1.0, lines / 4.5)}


def _fits_list_literal(categories: Sequence[str]) -> bool:
    """Whether Excel can take the categories as a literal "a,b,c" list."""
    plain = all(
        value and "," not in value and '"' not in value and value == value.strip()
        for value in categories
    )
    return plain and _utf16_length(",".join(categories)) <= LIST_LITERAL_MAX_CHARS


def _cut(text: str, limit: int) -> str:
    return text if _utf16_length(text) <= limit else text[: limit - 1] + ELLIPSIS


class _Template:
    """Writes the template workbook; the hidden list sheet is added when first needed."""

    def __init__(self, workbook: Workbook, language: str) -> None:
        self.workbook = workbook
        self.labels = _labels(language)
        self.language = language
        self.sheet = workbook.add_worksheet(TEMPLATE_SHEET)
        self.bold = workbook.add_format({"bold": True})
        self.lists: Worksheet | None = None
        self.lists_used = 0
        _add_write_handlers(self.sheet, workbook)

    def list_range(self, categories: Sequence[str]) -> str:
        """Write `categories` down a new column of the hidden sheet; its absolute range."""
        if self.lists is None:
            self.lists = self.workbook.add_worksheet(LISTS_SHEET)
            self.lists.hide()
        col = self.lists_used
        self.lists_used += 1
        for row, value in enumerate(categories):
            self.lists.write_string(row, col, fit_cell_text(value))
        cells = xl_range_abs(0, col, len(categories) - 1, col)
        return f"={quote_sheetname(LISTS_SHEET)}!{cells}"

    def validation(self, column: Column) -> dict[str, Any] | None:
        labels = self.labels
        if column.type == ColumnType.CATEGORY and column.categories:
            categories = list(column.categories)
            source = categories if _fits_list_literal(categories) else self.list_range(categories)
            return {
                "validate": "list",
                "source": source,
                "error_type": "stop",
                "error_message": labels["expect_category"],
            }
        if column.type == ColumnType.BOOLEAN:
            return {
                "validate": "list",
                "source": ["TRUE", "FALSE"],
                "error_type": "warning",
                "error_message": labels["expect_boolean"],
            }
        if column.type in (ColumnType.NUMBER, ColumnType.INTEGER):
            return self.number_validation(column)
        return None

    def number_validation(self, column: Column) -> dict[str, Any]:
        integer = column.type == ColumnType.INTEGER
        cast = int if integer else float
        low, high = column.minimum, column.maximum
        expected = self.labels["expect_integer" if integer else "expect_number"]
        bounds = _range_text(column, self.labels)
        options: dict[str, Any] = {
            "validate": "integer" if integer else "decimal",
            "error_type": "warning",
            "error_message": f"{expected} {bounds}".strip() + ".",
        }
        if low is not None and high is not None:
            options.update(criteria="between", minimum=cast(low), maximum=cast(high))
        elif low is not None:
            options.update(criteria=">=", value=cast(low))
        elif high is not None:
            options.update(criteria="<=", value=cast(high))
        else:  # the type only
            options.update(criteria="between", minimum=-UNBOUNDED, maximum=UNBOUNDED)
        return options

    def add_column(self, col: int, column: Column) -> None:
        sheet = self.sheet
        comment = _comment_text(column, self.language)
        example = self.example(column)
        sheet.write_string(0, col, fit_cell_text(column.name), self.bold)
        sheet.write_comment(0, col, comment, _comment_options(comment))
        sheet.set_column(col, col, _column_width(column.name, [example]))
        if example is not None:
            sheet.write(1, col, example)
        options = self.validation(column)
        if options is None:
            return
        options["error_title"] = _cut(self.labels["error_title"], VALIDATION_TITLE_MAX)
        options["error_message"] = _cut(options["error_message"], VALIDATION_MESSAGE_MAX)
        if sheet.data_validation(1, col, EXCEL_MAX_ROWS - 1, col, options):
            raise ValueError(f"Excel cannot validate column {column.name!r} with {options}")

    @staticmethod
    def example(column: Column) -> Any:
        value = _cell_value(column.example)
        if value is None:
            return None
        if column.type in (ColumnType.CATEGORY, ColumnType.TEXT):
            return _cell_value(str(column.example))
        return value


def write_template(path: Path, *, schema: InputSchema, language: str = "en") -> None:
    """Write the Excel template of a model's input to `path`: a bold header row of the schema's
    columns, each with a comment (description in `language`, type, range or allowed values,
    optional or required), the schema's example row, a drop-down list for each category column
    (its values on a hidden sheet when Excel's 255-character list literal cannot hold them), and
    a warning-style number check for number and integer columns."""
    workbook = Workbook(str(path), TEMPLATE_WORKBOOK_OPTIONS)
    try:
        template = _Template(workbook, language)
        for col, column in enumerate(schema.columns):
            template.add_column(col, column)
        template.sheet.freeze_panes(1, 0)
        template.sheet.activate()
    except BaseException:
        with contextlib.suppress(Exception):
            workbook.close()
        path.unlink(missing_ok=True)
        raise
    workbook.close()
