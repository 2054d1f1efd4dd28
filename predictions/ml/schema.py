"""The input schema of a model version: which columns it reads, of what type, with which
allowed values. Derived from the training data, stored with each version as JSON, and used
to match headers, validate rows, build the Excel template and document the fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

# A text column of short values with at most this many distinct ones is a category.
CATEGORY_MAX_VALUES = 30
CATEGORY_MAX_MEAN_LENGTH = 30


def normalise_header(name: str) -> str:
    """How a header or a JSON key is matched to a schema column: case, spaces and
    underscores do not matter ("Fuel Type", "fuel_type" and " FUEL  type" are one)."""
    return " ".join(name.replace("_", " ").split()).casefold()


class ColumnType(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    CATEGORY = "category"
    TEXT = "text"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = True
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    description: dict[str, str] = field(default_factory=dict)  # language code -> text
    example: Any = None

    def describe(self, language: str) -> str:
        return self.description.get(language) or self.description.get("en", "")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        return cls(
            name=data["name"],
            type=ColumnType(data["type"]),
            required=bool(data.get("required", True)),
            categories=tuple(str(c) for c in data.get("categories") or ()),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            description=dict(data.get("description") or {}),
            example=data.get("example"),
        )


@dataclass(frozen=True)
class InputSchema:
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def example_row(self) -> dict[str, Any]:
        return {column.name: column.example for column in self.columns}

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [column.to_dict() for column in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        columns = data.get("columns") if isinstance(data, dict) else None
        if not columns:
            raise ValueError("a schema needs at least one column")
        parsed = tuple(Column.from_dict(column) for column in columns)
        names = [column.name for column in parsed]
        if len(set(names)) != len(names):
            raise ValueError("a schema names each column once")
        return cls(columns=parsed)


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value from a numpy/pandas scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_boolean(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    values = set(series.dropna().unique().tolist())
    return bool(values) and values <= {0, 1}


def _column_type(series: pd.Series) -> ColumnType:
    if _is_boolean(series):
        return ColumnType.BOOLEAN
    if pd.api.types.is_integer_dtype(series):
        return ColumnType.INTEGER
    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
        if len(values) and (values == values.round()).all():
            return ColumnType.INTEGER
        return ColumnType.NUMBER
    values = series.dropna().astype(str)
    short = values.str.len().mean() <= CATEGORY_MAX_MEAN_LENGTH if len(values) else True
    if short and values.nunique() <= CATEGORY_MAX_VALUES:
        return ColumnType.CATEGORY
    return ColumnType.TEXT


def _accepted_range(low: float, high: float) -> tuple[float, float]:
    """The values a model accepts: what training saw, widened by its own span on each side
    (never below zero for quantities that were never negative). Far outside that, a
    prediction is a guess, so such rows are refused rather than charged."""
    span = max(high - low, abs(high), 1.0)
    minimum = 0.0 if low >= 0 else low - span
    return minimum, high + span


def derive_column(
    name: str, series: pd.Series, description: dict[str, str] | None = None
) -> Column:
    """One column of a schema, read off the training data: type, required (no missing values
    in training), allowed categories, range, and an example value."""
    column_type = _column_type(series)
    values = series.dropna()
    categories: tuple[str, ...] = ()
    minimum = maximum = None
    if column_type == ColumnType.CATEGORY:
        categories = tuple(sorted(str(value) for value in values.astype(str).unique()))
    elif column_type in (ColumnType.NUMBER, ColumnType.INTEGER) and len(values):
        minimum, maximum = _accepted_range(float(values.min()), float(values.max()))
        if column_type == ColumnType.INTEGER:
            minimum, maximum = int(np.floor(minimum)), int(np.ceil(maximum))
    example = _plain(values.mode().iloc[0]) if len(values) else None
    if column_type == ColumnType.CATEGORY and example is not None:
        example = str(example)
    if column_type == ColumnType.BOOLEAN and example is not None:
        example = bool(example)
    if column_type == ColumnType.INTEGER and example is not None:
        example = int(example)
    if column_type == ColumnType.TEXT and example is not None:
        example = str(values.iloc[0])
    return Column(
        name=name,
        type=column_type,
        required=not series.isna().any(),
        categories=categories,
        minimum=minimum,
        maximum=maximum,
        description=dict(description or {}),
        example=example,
    )


def derive_schema(
    frame: pd.DataFrame,
    *,
    target: str,
    descriptions: dict[str, dict[str, str]] | None = None,
    types: dict[str, ColumnType] | None = None,
) -> InputSchema:
    """The schema of every column of `frame` but `target`. `types` overrides what the data
    suggests (a free-text column with few distinct values in a small sample, say)."""
    descriptions = descriptions or {}
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        column = derive_column(name, frame[name], descriptions.get(name))
        if types and name in types and types[name] != column.type:
            column = Column(
                name=column.name,
                type=types[name],
                required=column.required,
                description=column.description,
                example=str(column.example) if column.example is not None else None,
            )
        columns.append(column)
    return InputSchema(columns=tuple(columns))
