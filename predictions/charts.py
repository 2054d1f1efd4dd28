"""Geometry of the charts the own-model pages draw as inline SVG: data in, shapes with
coordinates in a fixed viewBox out. The templates under templates/charts/ only place what
these functions computed, so a chart can be tested without rendering anything.

Pure functions; nothing here knows Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

WIDTH = 600
# Series colours, distinguishable for the common kinds of colour blindness (Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")

BAR_HEIGHT = 18
BAR_GAP = 6
LABEL_WIDTH = 170
VALUE_WIDTH = 70
LABEL_CHARS = 26

PLOT_HEIGHT = 220
MARGIN = {"left": 56, "right": 30, "top": 12, "bottom": 32}
LEGEND_ROW = 18
TICKS = 5
POINT_RADIUS = 3


def number_label(value: float | None, digits: int = 3) -> str:
    """A number as a chart shows it: `digits` significant digits, whole numbers from 1,000
    (grouped from 10,000), an exponent only for the very small and very large."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1e9 or abs(value) < 1e-3:
        return f"{value:.2e}"
    if abs(value) >= 10_000:
        return f"{value:,.0f}".replace(",", "\u202f")
    text = f"{value:.{digits}g}"
    if "e" in text:  # 999.7 at three digits rounds to 1e+03
        text = f"{value:.0f}"
    return text


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _span(values: Sequence[float]) -> tuple[float, float]:
    """(low, high) of `values`, widened when they are all equal so the scale divides by
    something."""
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low, high


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return round(start + (value - low) / (high - low) * (end - start), 2)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- bars -------------------------------------------------------------------------------------


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    width: int = WIDTH,
    bar_height: int = BAR_HEIGHT,
    gap: int = BAR_GAP,
) -> dict[str, Any]:
    """Horizontal bars, one per (label, value) in the given order, measured from zero: a
    negative value grows to the left of the zero line, so contributions diverge from it.
    Items without a finite value are left out."""
    kept = [(str(label), float(value)) for label, value in items if _finite(value)]
    plot_left, plot_right = LABEL_WIDTH, width - VALUE_WIDTH
    low = min([0.0, *(value for _, value in kept)])
    high = max([0.0, *(value for _, value in kept)])
    if high == low:
        high = low + 1.0
    zero = _scale(0.0, low, high, plot_left, plot_right)
    bars = []
    for index, (label, value) in enumerate(kept):
        end = _scale(value, low, high, plot_left, plot_right)
        y = gap + index * (bar_height + gap)
        bars.append(
            {
                "label": label,
                "short_label": _short(label),
                "value": value,
                "value_label": number_label(value),
                "negative": value < 0,
                "x": min(zero, end),
                "y": y,
                "width": round(abs(end - zero), 2),
                "height": bar_height,
                "text_y": y + bar_height * 0.7,
            }
        )
    height = gap + len(kept) * (bar_height + gap)
    return {
        "width": width,
        "height": height,
        "viewbox": f"0 0 {width} {height}",
        "bars": bars,
        "zero_x": zero,
        "label_x": plot_left - 6,
        "value_x": plot_right + 6,
    }


# --- histograms -------------------------------------------------------------------------------


def _frame(width: int, height: int, *, legend_rows: int = 0) -> dict[str, float]:
    top = MARGIN["top"]
    bottom = height - MARGIN["bottom"] - legend_rows * LEGEND_ROW
    return {"left": MARGIN["left"], "right": width - MARGIN["right"], "top": top, "bottom": bottom}


def _ticks(low: float, high: float, start: float, end: float) -> list[dict[str, Any]]:
    return [
        {
            "position": _scale(low + (high - low) * step / (TICKS - 1), low, high, start, end),
            "label": number_label(low + (high - low) * step / (TICKS - 1)),
        }
        for step in range(TICKS)
    ]


def histogram(
    edges: Sequence[float], counts: Sequence[int], *, width: int = WIDTH, height: int = PLOT_HEIGHT
) -> dict[str, Any]:
    """Vertical bars over the bins `edges[i]..edges[i + 1]`, as tall as their counts. Bins
    are drawn equally wide (profiles and residuals use equal bins)."""
    if len(edges) != len(counts) + 1 or not counts:
        return {"empty": True, "width": width, "height": height, "viewbox": f"0 0 {width} {height}"}
    frame = _frame(width, height)
    tallest = max(max(counts), 1)
    step = (frame["right"] - frame["left"]) / len(counts)
    bars = []
    for index, count in enumerate(counts):
        bar_height = round((frame["bottom"] - frame["top"]) * count / tallest, 2)
        bars.append(
            {
                "x": round(frame["left"] + index * step, 2),
                "y": round(frame["bottom"] - bar_height, 2),
                "width": round(max(step - 1, 0.5), 2),
                "height": bar_height,
                "count": int(count),
                "low": number_label(edges[index]),
                "high": number_label(edges[index + 1]),
            }
        )
    return {
        "empty": False,
        "width": width,
        "height": height,
        "viewbox": f"0 0 {width} {height}",
        "frame": frame,
        "bars": bars,
        "x_ticks": [
            {"position": frame["left"], "label": number_label(edges[0])},
            {
                "position": round((frame["left"] + frame["right"]) / 2, 2),
                "label": number_label((edges[0] + edges[-1]) / 2),
            },
            {"position": frame["right"], "label": number_label(edges[-1])},
        ],
        "y_ticks": [
            {"position": frame["bottom"], "label": "0"},
            {"position": frame["top"], "label": str(tallest)},
        ],
        "tallest": tallest,
    }


# --- lines and points -------------------------------------------------------------------------


def _series_points(series: Sequence[dict[str, Any]]) -> list[tuple[str, list[tuple[float, float]]]]:
    """(name, [(x, y), ...]) per series, finite pairs only."""
    cleaned = []
    for one in series:
        pairs = [
            (float(x), float(y))
            for x, y in zip(one.get("xs") or [], one.get("ys") or [], strict=False)
            if _finite(x) and _finite(y)
        ]
        cleaned.append((str(one.get("name", "")), pairs))
    return cleaned


def _legend(names: list[str], frame: dict[str, float], height: int) -> list[dict[str, Any]]:
    first_row = frame["bottom"] + MARGIN["bottom"]
    return [
        {
            "name": name,
            "color": PALETTE[index % len(PALETTE)],
            "x": frame["left"],
            "y": first_row + index * LEGEND_ROW,
            "text_y": first_row + index * LEGEND_ROW + 10,
        }
        for index, name in enumerate(names)
    ]


def _plane(
    cleaned: list[tuple[str, list[tuple[float, float]]]],
    *,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
    same_range: bool,
    width: int,
    height: int,
    legend: bool,
) -> tuple[dict[str, Any], Any]:
    xs = [x for _, pairs in cleaned for x, _ in pairs] or [0.0, 1.0]
    ys = [y for _, pairs in cleaned for _, y in pairs] or [0.0, 1.0]
    if same_range:
        x_range = y_range = _span([*xs, *ys])
    x_low, x_high = x_range or _span(xs)
    y_low, y_high = y_range or _span(ys)
    rows = len(cleaned) if legend else 0
    total_height = height + rows * LEGEND_ROW
    frame = _frame(width, total_height, legend_rows=rows)

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            _scale(x, x_low, x_high, frame["left"], frame["right"]),
            _scale(y, y_low, y_high, frame["bottom"], frame["top"]),
        )

    chart = {
        "width": width,
        "height": total_height,
        "viewbox": f"0 0 {width} {total_height}",
        "frame": frame,
        "x_ticks": _ticks(x_low, x_high, frame["left"], frame["right"]),
        "y_ticks": _ticks(y_low, y_high, frame["bottom"], frame["top"]),
        "legend": _legend([name for name, _ in cleaned], frame, total_height) if legend else [],
        "diagonal": None,
    }
    return chart, place


def _diagonal(place, low: float, high: float) -> dict[str, float]:
    x1, y1 = place(low, low)
    x2, y2 = place(high, high)
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


def line_chart(
    series: Sequence[dict[str, Any]],
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    width: int = WIDTH,
    height: int = PLOT_HEIGHT + 60,
) -> dict[str, Any]:
    """Several series ({"name", "xs", "ys"}) overlaid as polylines on shared axes, each in
    its palette colour, with a legend below the plot. `diagonal` draws y = x (the chance line
    of a ROC curve)."""
    cleaned = _series_points(series)
    chart, place = _plane(
        cleaned,
        x_range=x_range,
        y_range=y_range,
        same_range=False,
        width=width,
        height=height,
        legend=True,
    )
    chart["lines"] = [
        {
            "name": name,
            "color": PALETTE[index % len(PALETTE)],
            "points": " ".join(f"{x:g},{y:g}" for x, y in (place(*pair) for pair in pairs)),
        }
        for index, (name, pairs) in enumerate(cleaned)
    ]
    if diagonal:
        low = max(x_range[0] if x_range else 0.0, y_range[0] if y_range else 0.0)
        high = min(x_range[1] if x_range else 1.0, y_range[1] if y_range else 1.0)
        chart["diagonal"] = _diagonal(place, low, high)
    return chart


def scatter(
    series: Sequence[dict[str, Any]],
    *,
    diagonal: bool = True,
    width: int = WIDTH,
    height: int = PLOT_HEIGHT + 80,
) -> dict[str, Any]:
    """Points of one or more series ({"name", "xs", "ys"}) on one plane. With `diagonal`
    both axes share one range and the line y = x is drawn: predicted against actual values
    lie on it when the model is right."""
    cleaned = _series_points(series)
    chart, place = _plane(
        cleaned,
        x_range=None,
        y_range=None,
        same_range=diagonal,
        width=width,
        height=height,
        legend=len(cleaned) > 1,
    )
    chart["points"] = [
        {"cx": cx, "cy": cy, "color": PALETTE[index % len(PALETTE)], "series": name}
        for index, (name, pairs) in enumerate(cleaned)
        for cx, cy in (place(*pair) for pair in pairs)
    ]
    if diagonal:
        values = [value for _, pairs in cleaned for pair in pairs for value in pair]
        low, high = _span(values or [0.0, 1.0])
        chart["diagonal"] = _diagonal(place, low, high)
    return chart


def confusion_cells(matrix: Sequence[Sequence[int]]) -> list[list[dict[str, Any]]]:
    """A confusion matrix's counts with a shade from 0 to 1 (the share of the largest count),
    for a table whose cells darken with the count."""
    largest = max([count for row in matrix for count in row] or [0]) or 1
    return [
        [{"count": int(count), "shade": round(count / largest, 2)} for count in row]
        for row in matrix
    ]
