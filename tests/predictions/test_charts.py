"""The charts' geometry (predictions/charts.py): pure functions, no rendering."""

import pytest

from predictions import charts


def test_bars_grow_from_zero_in_proportion_to_their_values():
    chart = charts.bar_chart([("a", 10), ("b", 5), ("c", 0)])
    a, b, c = chart["bars"]
    assert a["x"] == b["x"] == chart["zero_x"] == charts.LABEL_WIDTH
    assert a["width"] == pytest.approx(charts.WIDTH - charts.VALUE_WIDTH - charts.LABEL_WIDTH)
    assert b["width"] == pytest.approx(a["width"] / 2)
    assert c["width"] == 0
    assert [bar["y"] for bar in chart["bars"]] == sorted(bar["y"] for bar in chart["bars"])
    assert chart["height"] == charts.BAR_GAP + 3 * (charts.BAR_HEIGHT + charts.BAR_GAP)
    assert chart["viewbox"] == f"0 0 {charts.WIDTH} {chart['height']}"


def test_negative_bars_diverge_to_the_left_of_zero():
    chart = charts.bar_chart([("up", 3.0), ("down", -1.0)])
    up, down = chart["bars"]
    zero = chart["zero_x"]
    assert charts.LABEL_WIDTH < zero < charts.WIDTH - charts.VALUE_WIDTH
    assert up["x"] == zero
    assert not up["negative"]
    assert down["x"] + down["width"] == pytest.approx(zero)
    assert down["negative"]
    assert up["width"] == pytest.approx(3 * down["width"])


def test_bars_without_a_finite_value_are_left_out():
    chart = charts.bar_chart([("a", None), ("b", float("nan")), ("c", 2), ("d", True)])
    assert [bar["label"] for bar in chart["bars"]] == ["c"]


def test_long_labels_are_shortened_but_kept_whole_for_the_tooltip():
    label = "a very long column name that would not fit"
    (bar,) = charts.bar_chart([(label, 1)])["bars"]
    assert bar["label"] == label
    assert len(bar["short_label"]) == charts.LABEL_CHARS
    assert bar["short_label"].endswith("…")


def test_histogram_bars_fill_the_frame_and_scale_with_counts():
    chart = charts.histogram([0, 1, 2, 3, 4], [2, 4, 0, 1])
    frame = chart["frame"]
    bars = chart["bars"]
    assert len(bars) == 4
    assert bars[0]["x"] == frame["left"]
    step = (frame["right"] - frame["left"]) / 4
    assert bars[-1]["x"] == pytest.approx(frame["right"] - step)
    tallest = bars[1]
    assert tallest["y"] == frame["top"]
    assert tallest["y"] + tallest["height"] == pytest.approx(frame["bottom"])
    assert bars[0]["height"] == pytest.approx(tallest["height"] / 2)
    assert bars[2]["height"] == 0
    assert (bars[1]["low"], bars[1]["high"], bars[1]["count"]) == ("1", "2", 4)
    assert [tick["label"] for tick in chart["x_ticks"]] == ["0", "2", "4"]


def test_histogram_with_mismatched_edges_is_empty():
    assert charts.histogram([0, 1], [1, 2])["empty"]
    assert charts.histogram([], [])["empty"]


def test_line_chart_maps_its_ranges_onto_the_frame_with_y_upwards():
    chart = charts.line_chart(
        [{"name": "ROC", "xs": [0, 0.5, 1], "ys": [0, 0.8, 1]}],
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
    )
    frame = chart["frame"]
    points = [tuple(map(float, pair.split(","))) for pair in chart["lines"][0]["points"].split()]
    assert points[0] == (frame["left"], frame["bottom"])
    assert points[-1] == (frame["right"], frame["top"])
    assert points[1][1] == pytest.approx(frame["bottom"] - 0.8 * (frame["bottom"] - frame["top"]))
    assert chart["diagonal"] == {
        "x1": frame["left"],
        "y1": frame["bottom"],
        "x2": frame["right"],
        "y2": frame["top"],
    }


def test_overlaid_series_get_their_own_colour_and_legend_entry():
    series = [
        {"name": "v1", "xs": [0, 1], "ys": [0, 1]},
        {"name": "v2", "xs": [0, 1], "ys": [0, 0.5]},
    ]
    chart = charts.line_chart(series, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    assert [line["color"] for line in chart["lines"]] == list(charts.PALETTE[:2])
    assert [entry["name"] for entry in chart["legend"]] == ["v1", "v2"]
    assert chart["legend"][1]["y"] - chart["legend"][0]["y"] == charts.LEGEND_ROW
    # The legend sits below the plot, inside the viewBox.
    assert chart["legend"][-1]["y"] > chart["frame"]["bottom"]
    assert chart["legend"][-1]["y"] + charts.LEGEND_ROW <= chart["height"]


def test_scatter_shares_one_range_so_the_diagonal_is_y_equals_x():
    chart = charts.scatter([{"name": "rows", "xs": [10, 20, 30], "ys": [12, 18, 40]}])
    frame = chart["frame"]
    # The smallest value (10) and the largest (40) sit on the frame's corners of y = x.
    assert chart["diagonal"] == {
        "x1": frame["left"],
        "y1": frame["bottom"],
        "x2": frame["right"],
        "y2": frame["top"],
    }
    first, _, last = chart["points"]
    assert (first["cx"], last["cy"]) == (frame["left"], frame["top"])
    assert chart["legend"] == []  # one series needs no legend


def test_scatter_skips_missing_values():
    chart = charts.scatter([{"name": "rows", "xs": [1, None, 3], "ys": [1, 2, None]}])
    assert len(chart["points"]) == 1


def test_confusion_cells_are_shaded_by_their_share_of_the_largest_count():
    cells = charts.confusion_cells([[8, 2], [0, 4]])
    assert [[cell["shade"] for cell in row] for row in cells] == [[1.0, 0.25], [0.0, 0.5]]
    assert cells[0][1]["count"] == 2


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "0"),
        (0.12345, "0.123"),
        (12.5, "12.5"),
        (999.7, "1000"),
        (2004.4, "2004"),
        (25_000, "25\u202f000"),
        (-0.0001, "-1.00e-04"),
        (None, "—"),
    ],
)
def test_number_labels_are_short(value, label):
    assert charts.number_label(value) == label
