"""A customer's own training table, before any model sees it: suggest a schema (the type of
each feature, what to leave out, regression or classification), apply the customer's
corrections, keep the rows a model can learn from, and profile them for the exploration page.

Cells are typed by the rules validation uses (`validation._numbers`, `validation._booleans`),
so a type inference suggests is a type training accepts, and a value profiled is a value the
model will read."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain, pairwise
from typing import Any

import numpy as np
import pandas as pd

from .datasets import frame_sha256
from .errors import MLError
from .schema import (
    CATEGORY_MAX_MEAN_LENGTH,
    CATEGORY_MAX_VALUES,
    Column,
    ColumnType,
    InputSchema,
    _accepted_range,
    derive_column,
)
from .validation import _booleans, _numbers, validate_rows

MIN_TRAINING_ROWS = 30
MAX_CLASSES = 50
# Same values as training.REGRESSION / CLASSIFICATION; not imported, because training pulls
# in scikit-learn and the exploration page needs none of it.
REGRESSION = "regression"
CLASSIFICATION = "classification"
TASKS = (REGRESSION, CLASSIFICATION)

# A type is wrong for a column when more than this share of its values do not fit it; below
# that, the misfits are typos and their rows are dropped from training.
MISMATCH_SHARE = 0.5
NUMERIC_TYPES = (ColumnType.NUMBER, ColumnType.INTEGER)
SNIFF_VALUES = 200

# Bounds that keep a profile small: about 1 kB for a number or category column, about 15 kB
# for a text column, so a 100-column table stays in a few hundred kB.
HISTOGRAM_BINS = 20
TOP_VALUES = 10
TOP_TOKENS = 15
TEXT_CLASSES_SHOWN = 10
VALUE_CHARS = 100
TEXT_SAMPLE_ROWS = 20_000  # texts tokenized per class (or per column for regression)
SAMPLE_SEED = 42
SIGNIFICANT_DIGITS = 6
SHARE_DECIMALS = 4

# Letters and digits of any script, so Russian words are words too.
WORD = r"[^\W_]+"
# Common words that would top every list; negations stay, they carry meaning in reviews.
STOP_WORDS_TEXT = """
    a an and are as at be been but by for from had has have he her his i if in into is it
    its me my of on or our she so than that the their them then there these they this those
    to was we were what when which who will with would you your
    а без бы в во вот все вы да для до его ее её если же за и из или им их к как ко ли мне
    мы на над о об однако он она они оно от по под при с со так также то того тоже только у
    уже чем что чтобы это эта эти этот я
"""
STOP_WORDS = frozenset(STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class DatasetSchema:
    """What a customer confirmed about a training table: the target and its task, the feature
    columns with their types, and the columns left out. `notes` keep why inference chose
    what it did ("empty": left out, nothing in it; "identifier": one distinct value per row,
    worth leaving out), so the confirm page can say so."""

    target: str
    task: str
    columns: tuple[Column, ...]
    ignored: tuple[str, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    def features(self) -> InputSchema:
        return InputSchema(columns=self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "columns": [column.to_dict() for column in self.columns],
            "ignored": list(self.ignored),
            "notes": dict(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSchema:
        if data["task"] not in TASKS:
            raise ValueError(f"unknown task {data['task']!r}")
        return cls(
            target=str(data["target"]),
            task=data["task"],
            columns=tuple(Column.from_dict(column) for column in data["columns"]),
            ignored=tuple(str(name) for name in data.get("ignored") or ()),
            notes={str(name): str(code) for name, code in (data.get("notes") or {}).items()},
        )


@dataclass(frozen=True)
class TrainingTable:
    """The rows a model learns from: features typed as validation types them (numbers and
    yes/no flags as floats, categories and texts as strings), the target as floats
    (regression) or string labels (classification)."""

    frame: pd.DataFrame
    schema: DatasetSchema
    classes: tuple[str, ...]  # classification: the labels, in order
    rows_dropped: int  # no target, or a cell that does not fit its column's type
    data_sha256: str  # of the canonical CSV of `frame`, see datasets.frame_sha256


# --- cells ------------------------------------------------------------------------------------


def _present(raw: pd.Series) -> np.ndarray:
    """Cells holding a value. The reader strips text and makes blank cells None; an empty
    string from another source is missing too."""
    values = raw.to_numpy(dtype=object)
    return pd.notna(values) & (values != "")


def _text(raw: pd.Series) -> pd.Series:
    """Cells as stripped text, missing as None. A whole number from a spreadsheet reads as
    "4", not "4.0", the way validation matches it to a category."""
    if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
        text = raw.astype(object).str.strip()
    else:
        text = raw.astype("string").str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        whole = numbers.notna() & np.isfinite(numbers) & (numbers == numbers.round())
        text = text.mask(whole, numbers.where(whole).astype("Int64").astype("string"))
    return text.astype(object).where(_present(raw), None)


def _typed_cells(raw: pd.Series, column_type: ColumnType) -> pd.Series:
    """Cells as a column of `column_type` holds them; missing where a cell does not fit."""
    if column_type in NUMERIC_TYPES:
        numbers = _numbers(raw)
        if column_type == ColumnType.INTEGER:
            return numbers.where(numbers == numbers.round())
        return numbers
    if column_type == ColumnType.BOOLEAN:
        return _booleans(raw)[0]
    return _text(raw)


def _inferred_cells(raw: pd.Series) -> pd.Series:
    """Cells as the data suggest: numbers when every value parses as one, yes/no flags when
    every value reads as one, text otherwise (CSV gives every cell as text). The first values
    are tried alone first: they tell most text columns apart without parsing every cell."""
    present = _present(raw)
    first_values = raw[present].iloc[:SNIFF_VALUES]
    for column_type in (ColumnType.NUMBER, ColumnType.BOOLEAN):
        if _typed_cells(first_values, column_type).isna().any():
            continue
        typed = _typed_cells(raw, column_type)
        if typed.notna().to_numpy()[present].all():
            return typed
    return _text(raw)


def _example(values: pd.Series, column_type: ColumnType) -> Any:
    if not len(values):
        return None
    if column_type == ColumnType.TEXT:
        return str(values.iloc[0])
    value = values.mode().iloc[0]
    if column_type == ColumnType.NUMBER:
        return float(value)
    if column_type == ColumnType.INTEGER:
        return int(value)
    if column_type == ColumnType.BOOLEAN:
        return bool(value)
    return str(value)


def _column_of_type(name: str, raw: pd.Series, column_type: ColumnType) -> Column:
    """A column of the type the customer chose, its details (range, categories, required,
    example) read off the cells that fit that type."""
    values = _typed_cells(raw, column_type).dropna()
    minimum = maximum = None
    if column_type in NUMERIC_TYPES and len(values):
        minimum, maximum = _accepted_range(float(values.min()), float(values.max()))
        if column_type == ColumnType.INTEGER:
            minimum, maximum = int(np.floor(minimum)), int(np.ceil(maximum))
    categories: tuple[str, ...] = ()
    if column_type == ColumnType.CATEGORY:
        categories = tuple(sorted(values.unique()))
    return Column(
        name=name,
        type=column_type,
        required=bool(_present(raw).all()),
        categories=categories,
        minimum=minimum,
        maximum=maximum,
        example=_example(values, column_type),
    )


def _looks_like_identifier(cells: pd.Series, column: Column) -> bool:
    """One distinct whole number or one-word string per row: a row number or a customer
    code, which a model could only memorise. Free text (with spaces) is not one."""
    if column.type not in (ColumnType.INTEGER, ColumnType.CATEGORY, ColumnType.TEXT):
        return False
    if len(cells) < 2 or cells.isna().any() or cells.nunique() != len(cells):
        return False
    return column.type == ColumnType.INTEGER or not cells.str.contains(r"\s").any()


# --- the target -------------------------------------------------------------------------------


def _require_target(frame: pd.DataFrame, target: str) -> None:
    if target not in frame.columns:
        columns = [str(name) for name in frame.columns]
        raise MLError(
            f"The table has no column {target!r}. Choose the target among its columns: "
            f"{', '.join(columns)}.",
            code="no_target",
            target=target,
            columns=columns,
        )


def _target_values(raw: pd.Series, task: str) -> pd.Series:
    """The target as a model learns it: numbers for regression, text labels for
    classification; missing where a row has none."""
    return _numbers(raw) if task == REGRESSION else _text(raw)


def _suggested_task(raw: pd.Series) -> str:
    """Regression for a measured number (many values, or fractions, or one value: a constant
    is refused as such); classification for flags, categories and small whole-number codes
    (a 1-5 rating). Free text (long values, or mostly distinct ones beyond what a classifier
    learns) is suggested as regression too, so that it is refused as text, not as a class."""
    cells = _inferred_cells(raw).dropna()
    numeric = pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells)
    if numeric and cells.nunique() == 1:
        return REGRESSION
    if pd.api.types.is_float_dtype(cells) and (
        cells.nunique() > CATEGORY_MAX_VALUES or (cells != cells.round()).any()
    ):
        return REGRESSION
    if cells.dtype == object and (
        cells.astype(str).str.len().mean() > CATEGORY_MAX_MEAN_LENGTH
        or cells.nunique() > max(MAX_CLASSES, len(cells) / 2)
    ):
        return REGRESSION
    return CLASSIFICATION


def _too_few_rows(rows: int, *, usable: bool) -> MLError:
    which = "can be used for training (a target and every cell fitting its column)"
    return MLError(
        f"Only {rows} rows {which if usable else 'have a target value'}; "
        f"a model needs at least {MIN_TRAINING_ROWS}.",
        code="too_few_rows",
        rows=rows,
        minimum=MIN_TRAINING_ROWS,
    )


def _check_target_values(values: pd.Series, target: str, task: str) -> None:
    """Something to learn: two values at least, and a number of classes a model can tell
    apart."""
    distinct = values.dropna().unique()
    if task == REGRESSION and len(distinct) < 2:
        raise MLError(
            f"Every row has the same {target}: there is nothing to predict.",
            code="constant_target",
            target=target,
            value=float(distinct[0]),
        )
    if task == CLASSIFICATION and len(distinct) < 2:
        raise MLError(
            f"Every row has the same {target} ({distinct[0]}): a classifier needs at least "
            "two classes.",
            code="single_class",
            target=target,
            label=str(distinct[0]),
        )
    if task == CLASSIFICATION and len(distinct) > MAX_CLASSES:
        raise MLError(
            f"{target} has {len(distinct)} different values; a classifier learns at most "
            f"{MAX_CLASSES} classes. Choose regression if it is a measured number, or "
            "another target.",
            code="too_many_classes",
            target=target,
            classes=len(distinct),
            maximum=MAX_CLASSES,
        )


def _check_target(frame: pd.DataFrame, target: str, task: str) -> None:
    raw = frame[target]
    present = _present(raw)
    if not present.any():
        raise MLError(f"{target} is empty in every row.", code="empty_target", target=target)
    if present.sum() < MIN_TRAINING_ROWS:
        raise _too_few_rows(int(present.sum()), usable=False)
    values = _target_values(raw, task)[present]
    if task == REGRESSION and values.isna().mean() > MISMATCH_SHARE:
        raise MLError(
            f"{target} is not a number in most rows, so regression cannot predict it. "
            "Choose classification, or another target.",
            code="text_target",
            target=target,
        )
    _check_target_values(values, target, task)


# --- the schema -------------------------------------------------------------------------------


def _no_features() -> MLError:
    return MLError(
        "Every column but the target is left out or empty; a model needs at least one "
        "column to learn from.",
        code="no_features",
    )


def suggest_schema(frame: pd.DataFrame, *, target: str) -> DatasetSchema:
    """The schema the data suggest for predicting `target` from the other columns of a raw
    table (as `read_table` returns it). Empty columns are left out; identifiers are kept but
    noted. Raises MLError when the target cannot be learned (see `_check_target`)."""
    _require_target(frame, target)
    task = _suggested_task(frame[target])
    _check_target(frame, target, task)
    columns, ignored, notes = [], [], {}
    for name in frame.columns:
        if name == target:
            continue
        raw = frame[name]
        if not _present(raw).any():
            ignored.append(name)
            notes[name] = "empty"
            continue
        cells = _inferred_cells(raw)
        column = derive_column(name, cells)
        if _looks_like_identifier(cells, column):
            notes[name] = "identifier"
        columns.append(column)
    if not columns:
        raise _no_features()
    return DatasetSchema(
        target=target, task=task, columns=tuple(columns), ignored=tuple(ignored), notes=notes
    )


def _check_choices(
    frame: pd.DataFrame, target: str, types: dict[str, str], ignored: tuple[str, ...], task: str
) -> None:
    unknown = [name for name in [*types, *ignored] if name not in frame.columns]
    if unknown:
        raise MLError(
            f"The table has no column {', '.join(map(repr, unknown))}.",
            code="unknown_column",
            columns=unknown,
        )
    if target in ignored:
        raise MLError(
            f"{target} is the target: it cannot be left out.", code="target_ignored", target=target
        )
    if target in types:
        raise MLError(
            f"{target} is the target: choose its task, not a type.",
            code="target_type",
            target=target,
        )
    known_types = [column_type.value for column_type in ColumnType]
    for name, column_type in types.items():
        if column_type not in known_types:
            raise MLError(
                f"{column_type!r} is not a column type; choose one of {', '.join(known_types)}.",
                code="unknown_type",
                column=name,
                type=column_type,
            )
    if task not in TASKS:
        raise MLError(
            f"{task!r} is not a task; choose regression or classification.",
            code="unknown_task",
            task=task,
        )


def _check_fits(name: str, raw: pd.Series, column_type: ColumnType) -> None:
    present = _present(raw)
    fits = _typed_cells(raw, column_type).notna().to_numpy()
    failed = int((present & ~fits).sum())
    if failed > MISMATCH_SHARE * present.sum():
        raise MLError(
            f"{name} does not hold values of type {column_type.value}: {failed} of "
            f"{int(present.sum())} do not fit. Choose another type or leave the column out.",
            code="type_mismatch",
            column=name,
            type=column_type.value,
            failed=failed,
            values=int(present.sum()),
        )


def _revised_column(
    name: str, raw: pd.Series, current: Column | None, requested: str | None
) -> Column:
    """The column as the customer wants it: unchanged when its type is, re-derived from the
    data when the type changes, inferred when a left-out column comes back untyped."""
    if not _present(raw).any():
        raise MLError(
            f"{name} is empty in every row: leave it out.", code="empty_column", column=name
        )
    if requested is None:
        return current or derive_column(name, _inferred_cells(raw))
    column_type = ColumnType(requested)
    if current is not None and current.type == column_type:
        return current
    _check_fits(name, raw, column_type)
    return _column_of_type(name, raw, column_type)


def revise_schema(
    frame: pd.DataFrame,
    schema: DatasetSchema,
    *,
    types: dict[str, str] | None = None,
    ignored: Iterable[str] | None = None,
    task: str | None = None,
) -> DatasetSchema:
    """`schema` with the customer's choices: `types` (column -> "number", "integer",
    "category", "text" or "boolean"), `ignored` (every column to leave out; None keeps the
    current ones, a type given for a left-out column is unused) and the target's `task`.
    Changed columns are re-derived from `frame`. Raises MLError for a choice the data cannot
    honour, then checks the target for the task as `suggest_schema` does."""
    types = dict(types or {})
    left_out = tuple(dict.fromkeys(schema.ignored if ignored is None else ignored))
    task = task or schema.task
    _require_target(frame, schema.target)
    _check_choices(frame, schema.target, types, left_out, task)
    current = {column.name: column for column in schema.columns}
    columns = [
        _revised_column(name, frame[name], current.get(name), types.get(name))
        for name in frame.columns
        if name != schema.target and name not in left_out
    ]
    if not columns:
        raise _no_features()
    _check_target(frame, schema.target, task)
    return DatasetSchema(
        target=schema.target,
        task=task,
        columns=tuple(columns),
        ignored=tuple(name for name in frame.columns if name in left_out),
        notes={name: code for name, code in schema.notes.items() if name in frame.columns},
    )


# --- the training rows ------------------------------------------------------------------------


def _sorted_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Labels in their natural order: by value when all are numbers ("2" before "10")."""
    labels = list(labels)
    numbers = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce")
    if numbers.notna().all():
        return tuple(label for _, label in sorted(zip(numbers, labels, strict=True)))
    return tuple(sorted(labels))


def training_table(frame: pd.DataFrame, schema: DatasetSchema) -> TrainingTable:
    """The rows of `frame` a model can learn from, typed as it will read them. Rows without
    a target, or with a cell that does not fit its column (a word in a number column), are
    dropped and counted. Raises MLError when too few rows remain, or one class or value."""
    _require_target(frame, schema.target)
    checked = validate_rows(frame, schema.features())
    target = _target_values(frame[schema.target].reset_index(drop=True), schema.task)
    usable = checked.valid & target.notna().to_numpy()
    rows = int(usable.sum())
    if rows < MIN_TRAINING_ROWS:
        raise _too_few_rows(rows, usable=True)
    table = checked.frame[usable].reset_index(drop=True)
    table[schema.target] = target[usable].to_numpy()
    _check_target_values(table[schema.target], schema.target, schema.task)
    classes = ()
    if schema.task == CLASSIFICATION:
        classes = _sorted_labels(table[schema.target].unique())
    return TrainingTable(
        frame=table,
        schema=schema,
        classes=classes,
        rows_dropped=len(frame) - rows,
        data_sha256=frame_sha256(table),
    )


# --- figures ----------------------------------------------------------------------------------


def _round(value: float) -> float | None:
    """A figure as a page shows it: six significant digits; None for NaN or infinity."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _share(count: float, total: int) -> float:
    return round(float(count) / total, SHARE_DECIMALS) if total else 0.0


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return dict.fromkeys(("min", "mean", "median", "max", "std"))
    return {
        "min": _round(values.min()),
        "mean": _round(values.mean()),
        "median": _round(np.median(values)),
        "max": _round(values.max()),
        "std": _round(values.std(ddof=1)) if len(values) > 1 else 0.0,
    }


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """At most HISTOGRAM_BINS equal bins, fewer for a few distinct values (a 2-4 door count
    needs no 20 bars)."""
    bins = min(HISTOGRAM_BINS, max(1, len(np.unique(values))))
    return np.histogram_bin_edges(values, bins=bins)


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(values, bins=edges)[0].tolist()


def _histogram(values: np.ndarray) -> dict[str, list]:
    if not len(values):
        return {"edges": [], "counts": []}
    edges = _bin_edges(values)
    return {"edges": [_round(edge) for edge in edges], "counts": _bin_counts(values, edges)}


def _distribution(values: np.ndarray) -> dict[str, Any]:
    return {"stats": _stats(values), "histogram": _histogram(values)}


def _shown(value: Any) -> str | bool:
    """A value as the page shows it: text cut to VALUE_CHARS, so one long value cannot
    swell a profile; yes/no flags stay true/false."""
    return value if isinstance(value, bool) else str(value)[:VALUE_CHARS]


# --- associations with the target -------------------------------------------------------------


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Rank correlation: any monotonic relation counts, outliers do not dominate."""
    if len(x) < 3:
        return None
    x_ranks = pd.Series(x).rank().to_numpy()
    y_ranks = pd.Series(y).rank().to_numpy()
    if x_ranks.std() == 0 or y_ranks.std() == 0:
        return None
    return round(float(np.corrcoef(x_ranks, y_ranks)[0, 1]), SHARE_DECIMALS)


def _correlation_ratio(values: np.ndarray, groups: np.ndarray) -> float | None:
    """Eta: how much of the spread of `values` the groups explain, from 0 to 1. Adjusted for
    the number of groups, so a many-valued category does not look telling by chance."""
    codes, uniques = pd.factorize(groups)
    rows, count = len(values), len(uniques)
    if count < 2 or rows <= count:
        return None
    mean = values.mean()
    total = float(((values - mean) ** 2).sum())
    if total == 0:
        return None
    sums = np.bincount(codes, weights=values)
    sizes = np.bincount(codes)
    between = float((sums**2 / sizes).sum() - rows * mean**2)
    adjusted = 1 - (1 - between / total) * (rows - 1) / (rows - count)
    return round(math.sqrt(min(max(adjusted, 0.0), 1.0)), SHARE_DECIMALS)


def _cramers_v(first: np.ndarray, second: np.ndarray) -> float | None:
    """Cramér's V of two categorical columns, from 0 to 1, with Bergsma's bias correction
    (plain V of pure noise grows with the number of categories)."""
    first_codes, first_values = pd.factorize(first)
    second_codes, second_values = pd.factorize(second)
    rows_count, columns_count, total = len(first_values), len(second_values), len(first)
    if rows_count < 2 or columns_count < 2 or total < 2:
        return None
    cells = first_codes * columns_count + second_codes
    table = np.bincount(cells, minlength=rows_count * columns_count).reshape(
        rows_count, columns_count
    )
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    phi2 = float(((table - expected) ** 2 / expected).sum()) / total
    phi2 = max(0.0, phi2 - (columns_count - 1) * (rows_count - 1) / (total - 1))
    rows_corrected = rows_count - (rows_count - 1) ** 2 / (total - 1)
    columns_corrected = columns_count - (columns_count - 1) ** 2 / (total - 1)
    scale = min(rows_corrected - 1, columns_corrected - 1)
    if scale <= 0:
        return None
    return round(math.sqrt(min(phi2 / scale, 1.0)), SHARE_DECIMALS)


def _association(
    values: pd.Series, column_type: ColumnType, target: pd.Series, task: str
) -> tuple[str, float | None]:
    """One number for how much a column tells about the target, and the measure's name:
    Spearman for numbers against a number; eta between numbers and groups; Cramér's V between
    categories and classes; a text by its length in characters."""
    present = values.notna().to_numpy()
    feature, outcome = values[present], target[present].to_numpy()
    regression = task == REGRESSION
    if column_type == ColumnType.TEXT:
        lengths = feature.str.len().to_numpy(dtype=float)
        if regression:
            return "spearman_of_length", _spearman(lengths, outcome.astype(float))
        return "eta_of_length", _correlation_ratio(lengths, outcome)
    if column_type in NUMERIC_TYPES:
        numbers = feature.to_numpy(dtype=float)
        if regression:
            return "spearman", _spearman(numbers, outcome.astype(float))
        return "eta", _correlation_ratio(numbers, outcome)
    if regression:
        return "eta", _correlation_ratio(outcome.astype(float), feature.to_numpy())
    return "cramers_v", _cramers_v(feature.to_numpy(), outcome)


# --- column profiles --------------------------------------------------------------------------


def _top_values(values: pd.Series, rows: int) -> dict[str, Any]:
    """The most frequent values and how many rows hold any other; shares are of all rows,
    so they add up to 1 with the other and missing shares."""
    counts = values.value_counts()
    top = zip(counts.index[:TOP_VALUES].tolist(), counts.iloc[:TOP_VALUES].tolist(), strict=True)
    return {
        "top_values": [
            {"value": _shown(value), "count": count, "share": _share(count, rows)}
            for value, count in top
        ],
        "other_count": int(counts.iloc[TOP_VALUES:].sum()),
    }


def _text_sample(texts: pd.Series) -> tuple[pd.Series, bool]:
    """At most TEXT_SAMPLE_ROWS texts, a seeded sample, so tokenizing stays bounded."""
    if len(texts) <= TEXT_SAMPLE_ROWS:
        return texts, False
    return texts.sample(n=TEXT_SAMPLE_ROWS, random_state=SAMPLE_SEED), True


def _top_counts(counts: Counter, keep: Callable[[Any], bool]) -> list[tuple[Any, int]]:
    top = []
    for item, count in counts.most_common():
        if len(top) == TOP_TOKENS:
            break
        if keep(item):
            top.append((item, count))
    return top


def _vocabulary(texts: pd.Series) -> dict[str, list[dict[str, Any]]]:
    """The most frequent words and word pairs (lower-cased, stop words left out). Counted in
    one pass over all the texts' words: a Counter per text would cost a Python call each."""
    words_per_text = texts.str.lower().str.findall(WORD).tolist()
    tokens = Counter(chain.from_iterable(words_per_text))
    bigrams = Counter(chain.from_iterable(pairwise(words) for words in words_per_text))
    top_tokens = _top_counts(tokens, lambda token: token not in STOP_WORDS)
    top_bigrams = _top_counts(bigrams, lambda pair: STOP_WORDS.isdisjoint(pair))
    return {
        "tokens": [{"token": _shown(token), "count": count} for token, count in top_tokens],
        "bigrams": [
            {"bigram": _shown(" ".join(pair)), "count": count} for pair, count in top_bigrams
        ],
    }


def _text_lengths(texts: pd.Series) -> dict[str, np.ndarray]:
    return {
        "characters": texts.str.len().to_numpy(dtype=float),
        "words": texts.str.count(WORD).to_numpy(dtype=float),
    }


def _class_text_profile(
    label: str, texts: pd.Series, lengths: dict[str, np.ndarray], edges: dict[str, np.ndarray]
) -> dict[str, Any]:
    """One class's texts: lengths counted over the column's bins, so classes compare bar
    by bar, and its own vocabulary."""
    return {
        "label": label,
        "rows": len(texts),
        **{
            unit: {"stats": _stats(values), "counts": _bin_counts(values, edges[unit])}
            for unit, values in lengths.items()
        },
        **_vocabulary(_text_sample(texts)[0]),
    }


def _text_profile(texts: pd.Series, target: pd.Series, task: str) -> dict[str, Any]:
    """Lengths and vocabulary of a text column; for classification also per class, for the
    TEXT_CLASSES_SHOWN most frequent classes. A class is never larger than its column, so
    the column's sample says whether any tokens were counted on a sample."""
    lengths = _text_lengths(texts)
    edges = {unit: _bin_edges(values) for unit, values in lengths.items() if len(values)}
    sample, sampled = _text_sample(texts)
    by_class = []
    if task == CLASSIFICATION:
        labels = target[texts.index]
        for label in labels.value_counts().index[:TEXT_CLASSES_SHOWN]:
            in_class = (labels == label).to_numpy()
            class_lengths = {unit: values[in_class] for unit, values in lengths.items()}
            by_class.append(_class_text_profile(label, texts[in_class], class_lengths, edges))
    return {
        "lengths": {unit: _distribution(values) for unit, values in lengths.items()},
        **_vocabulary(sample),
        "by_class": by_class,
        "sampled": sampled,
    }


def _column_profile(
    values: pd.Series, column: Column, target: pd.Series, task: str
) -> dict[str, Any]:
    present = values.dropna()
    summary: dict[str, Any] = {
        "name": column.name,
        "type": column.type.value,
        "missing_share": _share(len(values) - len(present), len(values)),
        "unique_count": int(present.nunique()),
    }
    if column.type in NUMERIC_TYPES:
        summary.update(_distribution(present.to_numpy(dtype=float)))
    elif column.type == ColumnType.BOOLEAN:
        summary.update(_top_values(present.astype(bool), len(values)))
    elif column.type == ColumnType.CATEGORY:
        summary.update(_top_values(present, len(values)))
    else:
        summary.update(_text_profile(present, target, task))
    measure, association = _association(values, column.type, target, task)
    summary["association"] = association
    summary["association_measure"] = measure
    return summary


def _target_profile(target: pd.Series, task: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": target.name, "task": task}
    if task == REGRESSION:
        summary.update(_distribution(target.to_numpy(dtype=float)))
        return summary
    counts = target.value_counts()
    summary["classes"] = [
        {"label": _shown(label), "count": int(count), "share": _share(count, len(target))}
        for label, count in counts.items()
    ]
    summary["imbalance_ratio"] = round(float(counts.iloc[0] / counts.iloc[-1]), 2)
    return summary


def profile(
    table: TrainingTable, *, progress: Callable[[int, int], None] = lambda done, total: None
) -> dict[str, Any]:
    """The exploration page's figures for a training table, as JSON-safe data of bounded
    size: the target's distribution, and per feature column its missing share, distinct
    values, distribution and association with the target. Calls `progress(done, total)`
    after the target and after each column (total = columns + 1)."""
    schema = table.schema
    target = table.frame[schema.target]
    total = len(schema.columns) + 1
    summary: dict[str, Any] = {
        "rows": len(table.frame),
        "rows_dropped": table.rows_dropped,
        "target": _target_profile(target, schema.task),
    }
    progress(1, total)
    columns = []
    for done, column in enumerate(schema.columns, start=2):
        columns.append(_column_profile(table.frame[column.name], column, target, schema.task))
        progress(done, total)
    summary["columns"] = columns
    summary["sampled"] = any(column.get("sampled", False) for column in columns)
    return summary
