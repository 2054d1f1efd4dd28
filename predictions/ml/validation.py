"""Row validation against an input schema: every cell is typed, checked against the column's
rules, and each problem is reported with its row number and column, without stopping the file.
Vectorised per column, so 100,000 rows cost a few pandas operations, not a Python loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .schema import Column, ColumnType, InputSchema, normalise_header

TRUE_WORDS = {"true", "1", "yes", "y", "да", "д", "истина", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "нет", "н", "ложь", "f"}
CATEGORIES_SHOWN = 8


@dataclass(frozen=True)
class RowProblem:
    row: int  # as a spreadsheet shows it: the header is row 1, so data starts at 2
    column: str | None
    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidatedRows:
    frame: pd.DataFrame  # every row, typed as the model expects; bad cells are missing
    valid: np.ndarray  # bool per row: True when the row has no problem
    problems: list[RowProblem]
    row_numbers: np.ndarray  # the spreadsheet row number of each row

    @property
    def rows_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def rows_failed(self) -> int:
        return len(self.valid) - self.rows_valid

    def errors_by_row(self) -> list[str | None]:
        """One message per row (None when the row is fine), for the result's error column."""
        messages: list[list[str]] = [[] for _ in range(len(self.valid))]
        position = {int(row): index for index, row in enumerate(self.row_numbers)}
        for problem in self.problems:
            messages[position[problem.row]].append(problem.message)
        return ["; ".join(found) if found else None for found in messages]


NUMERIC_KINDS = ("integer", "floating", "mixed-integer-float", "decimal", "empty")


def _holds_only_numbers(series: pd.Series) -> bool:
    return pd.api.types.infer_dtype(series, skipna=True) in NUMERIC_KINDS


def _is_blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _missing(series: pd.Series) -> pd.Series:
    if _holds_only_numbers(series):
        return series.isna()
    return series.isna() | series.map(_is_blank, na_action="ignore").fillna(False).astype(bool)


def _numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series) or _holds_only_numbers(series):
        return pd.to_numeric(series, errors="coerce").astype("float64")
    text = series.astype("string").str.strip().str.replace("\u00a0", "", regex=False)
    return pd.to_numeric(text.str.replace(" ", "", regex=False), errors="coerce").astype("float64")


def _booleans(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values, recognised) for a boolean column."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean"), series.notna()
    text = series.astype("string").str.strip().str.lower()
    numeric = pd.to_numeric(text, errors="coerce")
    text = text.where(numeric.isna(), numeric.astype("string").str.replace(r"\.0$", "", regex=True))
    values = pd.Series(pd.NA, index=series.index, dtype="boolean")
    values[text.isin(TRUE_WORDS).fillna(False)] = True
    values[text.isin(FALSE_WORDS).fillna(False)] = False
    return values, values.notna()


def _categories(series: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    # Most cells are spelt exactly as a category: a dict lookup settles them; only the rest
    # go through the slower normalisation below.
    exact = series.map({category: category for category in column.categories})
    unmatched = exact.isna() & series.notna()
    if not unmatched.any():
        return exact.astype("object"), exact.notna()
    exact[unmatched] = _loose_categories(series[unmatched], column)
    return exact.astype("object"), exact.notna()


def _loose_categories(series: pd.Series, column: Column) -> pd.Series:
    canonical = {category.casefold(): category for category in column.categories}
    text = series.astype("string").str.strip()
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        # Excel turns a category "4" into the number 4.0: read it back as "4".
        numeric = pd.to_numeric(text, errors="coerce")
        text = text.where(
            numeric.isna() | (numeric != numeric.round()),
            numeric.astype("Int64").astype("string"),
        )
    values = text.str.casefold().map(canonical, na_action="ignore")
    return values.astype("object")


def _problem_rows(mask: pd.Series) -> np.ndarray:
    return np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))


def _range_message(column: Column) -> str:
    return f"must be from {column.minimum:g} to {column.maximum:g}"


def _validate_column(
    raw: pd.Series, column: Column, rows: np.ndarray, problems: list[RowProblem]
) -> pd.Series:
    missing = _missing(raw)
    if column.required:
        for index in _problem_rows(missing):
            problems.append(
                RowProblem(
                    int(rows[index]),
                    column.name,
                    "required",
                    f"{column.name}: a value is required",
                )
            )

    if column.type in (ColumnType.NUMBER, ColumnType.INTEGER):
        values = _numbers(raw)
        bad = values.isna() & ~missing
        for index in _problem_rows(bad):
            problems.append(
                RowProblem(
                    int(rows[index]),
                    column.name,
                    "not_a_number",
                    f"{column.name}: {str(raw.iloc[index])[:40]!r} is not a number",
                )
            )
        if column.type == ColumnType.INTEGER:
            fractional = values.notna() & (values != values.round())
            for index in _problem_rows(fractional):
                problems.append(
                    RowProblem(
                        int(rows[index]),
                        column.name,
                        "not_an_integer",
                        f"{column.name}: {values.iloc[index]:g} is not a whole number",
                    )
                )
            values = values.where(~fractional)
        if column.minimum is not None and column.maximum is not None:
            outside = values.notna() & ((values < column.minimum) | (values > column.maximum))
            for index in _problem_rows(outside):
                problems.append(
                    RowProblem(
                        int(rows[index]),
                        column.name,
                        "out_of_range",
                        f"{column.name}: {values.iloc[index]:g} {_range_message(column)}",
                        {"minimum": column.minimum, "maximum": column.maximum},
                    )
                )
            values = values.where(~outside)
        return values

    if column.type == ColumnType.BOOLEAN:
        values, recognised = _booleans(raw)
        for index in _problem_rows(~recognised & ~missing):
            problems.append(
                RowProblem(
                    int(rows[index]),
                    column.name,
                    "not_a_boolean",
                    f"{column.name}: {str(raw.iloc[index])[:40]!r} is not yes/no",
                )
            )
        # The pipelines were trained on 0/1 flags; missing stays missing.
        return values.astype("float64")

    if column.type == ColumnType.CATEGORY:
        values, recognised = _categories(raw, column)
        allowed = ", ".join(column.categories[:CATEGORIES_SHOWN])
        if len(column.categories) > CATEGORIES_SHOWN:
            allowed += ", …"
        for index in _problem_rows(~recognised & ~missing):
            problems.append(
                RowProblem(
                    int(rows[index]),
                    column.name,
                    "unknown_category",
                    f"{column.name}: {str(raw.iloc[index])[:40]!r} is not one of {allowed}",
                    {"allowed": list(column.categories)},
                )
            )
        return values.where(recognised, np.nan)

    text = raw.astype("string").str.strip()
    return text.where(~missing).astype("object").where(~missing, np.nan)


def validate_rows(
    frame: pd.DataFrame, schema: InputSchema, *, first_row_number: int = 2
) -> ValidatedRows:
    """Type and check every cell of `frame` (columns named as in `schema`; optional columns
    may be absent). Returns the typed frame, which rows are valid, and every problem found.
    Rows are numbered by the frame's index when the reader named it "row" (the file's own
    row numbers), else from `first_row_number`."""
    if frame.index.name == "row":
        rows = frame.index.to_numpy(dtype="int64")
    else:
        rows = np.arange(first_row_number, first_row_number + len(frame), dtype="int64")
    problems: list[RowProblem] = []
    typed: dict[str, pd.Series] = {}
    for column in schema.columns:
        raw = (
            frame[column.name]
            if column.name in frame.columns
            else pd.Series([None] * len(frame), index=frame.index, dtype="object")
        )
        typed[column.name] = _validate_column(raw.reset_index(drop=True), column, rows, problems)
    result = pd.DataFrame(typed, index=pd.RangeIndex(len(frame)))
    position = {int(row): index for index, row in enumerate(rows)}
    valid = np.ones(len(frame), dtype=bool)
    for problem in problems:
        valid[position[problem.row]] = False
    problems.sort(key=lambda problem: problem.row)
    return ValidatedRows(frame=result, valid=valid, problems=problems, row_numbers=rows)


def validate_records(
    records: list[dict[str, Any]], schema: InputSchema, *, first_row_number: int = 1
) -> ValidatedRows:
    """Rows given as mappings (a form, a JSON body); keys matched like file headers, keys
    that match no column ignored. Rows are numbered from `first_row_number`."""
    rows = []
    for record in records:
        by_key = {normalise_header(str(key)): value for key, value in record.items()}
        rows.append([by_key.get(normalise_header(column.name)) for column in schema.columns])
    frame = pd.DataFrame(rows, columns=[column.name for column in schema.columns], dtype="object")
    return validate_rows(frame, schema, first_row_number=first_row_number)


def validate_record(record: dict[str, Any], schema: InputSchema) -> ValidatedRows:
    """One row given as a mapping, numbered 1."""
    return validate_records([record], schema)


TYPED_IN_OUTPUT = (ColumnType.NUMBER, ColumnType.INTEGER, ColumnType.BOOLEAN)


def inputs_for_output(
    inputs: pd.DataFrame, checked: ValidatedRows, schema: InputSchema
) -> pd.DataFrame:
    """The inputs as a result file should echo them: numbers and booleans read as text (a CSV)
    become numbers and booleans where they were valid; a bad cell stays as it was written."""
    echoed = inputs.reset_index(drop=True)
    for column in schema.columns:
        if column.type not in TYPED_IN_OUTPUT or column.name not in echoed.columns:
            continue
        raw = echoed[column.name]
        if raw.dtype != object:
            continue
        typed = checked.frame[column.name]
        if column.type == ColumnType.BOOLEAN:  # typed as 0/1 flags for the model
            typed = typed.map({0.0: False, 1.0: True})
        typed = typed.astype("object")
        echoed[column.name] = raw.where(typed.isna(), typed)
    return echoed
