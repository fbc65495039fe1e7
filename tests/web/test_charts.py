"""The SVG charts: proportional bars, escaped labels, no inline style."""

from __future__ import annotations

import re

import pytest

from tallylog.web import charts


def heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect class="bar[0-9]?"[^>]* height="([0-9.]+)"', svg)]


def test_bar_heights_are_proportional_to_the_values() -> None:
    svg = charts.bar_chart([("a", 10), ("b", 5), ("c", 0), ("d", 20)], label="per day")
    h = heights(svg)
    assert len(h) == 3  # a zero draws no bar
    assert h[0] == pytest.approx(2 * h[1]) and h[2] == pytest.approx(2 * h[0])
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert 'aria-label="per day"' in svg and "<title>d: 20</title>" in svg
    assert "style" not in svg


def test_labels_are_escaped() -> None:
    svg = charts.bar_chart([("<b>&", 1)], label='"x"<script>')
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;b&gt;&amp;" in svg


def test_stacked_chart_stacks_series() -> None:
    svg = charts.stacked_bar_chart(["m1", "m2"], [("yes", [1, 2]), ("no", [3, 0])], label="outcomes")
    assert svg.count('class="bar"') == 2 and svg.count('class="bar2"') == 1
    assert "<title>m1 no: 3</title>" in svg
    legend = charts.legend(["yes", "no"])
    assert 'class="swatch bar2"' in legend and "no" in legend


def test_stacked_chart_refuses_bad_series() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2 categories"):
        charts.stacked_bar_chart(["a", "b"], [("s", [1])], label="x")
    with pytest.raises(ValueError, match="negative"):
        charts.stacked_bar_chart(["a"], [("s", [-1])], label="x")
    with pytest.raises(ValueError, match="at most 6 series"):
        charts.stacked_bar_chart(["a"], [(str(i), [1]) for i in range(7)], label="x")


def test_horizontal_chart_and_empty_charts() -> None:
    svg = charts.hbar_chart([("Canada", 4), ("Japan", 2)], label="by country")
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([0-9.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert charts.bar_chart([], label="nothing").endswith("</svg>")
    assert charts.hbar_chart([], label="nothing").endswith("</svg>")


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (20, 20), (120, 200), (501, 1000)])
def test_nice_ceiling(value: int, top: int) -> None:
    assert charts.nice_ceiling(value) == top


def test_short_number() -> None:
    assert [charts.short_number(n) for n in (999, 1000, 1200, 3_400_000, 2_000_000_000)] == ["999", "1k", "1.2k", "3.4M", "2G"]


def test_labels_have_room_for_the_phone_size_of_the_stylesheet() -> None:
    """On a 390 px screen the stylesheet draws labels at 26 units (about 14 px): the axis
    labels need that much room left of the plot and below it, and each row of a
    horizontal chart that much height (tests/browser/test_keyboard.py measures them)."""
    svg = charts.bar_chart([("11-04", 1200), ("11-05", 3)], label="per day")
    assert re.search(r'<line class="axis" x1="(\d+)"', svg).group(1) == str(charts._PAD_LEFT)
    assert charts._PAD_LEFT >= 4 * 26 * 0.6  # "1.2k" at 26 units
    assert charts._PAD_BOTTOM >= 26 + 6
    rows = charts.hbar_chart([("Canada", 2), ("Japan", 1)], label="by country")
    assert rows.startswith('<svg class="chart rows"')
    assert re.search(r'viewBox="0 0 640 (\d+)"', rows).group(1) == "64"  # 2 rows of 32
