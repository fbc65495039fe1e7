"""Server-rendered SVG charts: no JavaScript, no inline style, nothing from another host.

Each function returns a ``SafeString`` holding one ``<svg>`` element to place in a
template (``{{ chart }}``). Colours come from the site stylesheet through the classes
``bar``, ``bar2`` … ``bar6`` (the n-th series), so the strict Content-Security-Policy of
the site (no inline style) holds. Every chart carries an accessible name (``aria-label``
and ``<title>``), and every bar a ``<title>`` with its exact value; pages should still
show the numbers in a table for readers who cannot see the chart.

- ``bar_chart(points)``: one series over time (the daily chart of the home page).
- ``stacked_bar_chart(categories, series)``: several series stacked per category
  (outcome shares by month).
- ``hbar_chart(items)``: horizontal bars for a ranked list (counts by country).
- ``legend(names)``: the matching HTML legend for the stacked chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

SERIES_CLASSES = ("bar", "bar2", "bar3", "bar4", "bar5", "bar6")
# Room for the labels at the phone size of the stylesheet: a 640-unit chart shown 358 px
# wide (a 390 px screen) scales text by 0.56, so labels are drawn at 26 units there.
_PAD_LEFT = 64
_PAD_BOTTOM = 34
_PAD_TOP = 16


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``value`` (at least 1): the y-axis top."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def short_number(value: int) -> str:
    """``1200`` → ``1.2k``, ``3400000`` → ``3.4M``: axis labels that fit."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return str(value)


def _label_every(count: int, room: int) -> int:
    """Label every n-th category so that at most ``room`` labels are drawn."""
    return max(1, -(-count // max(1, room)))


def _svg(label: str, width: int, height: int, body: list[str], shape: str = "") -> SafeString:
    """The ``<svg>``; ``shape`` (``rows``: the horizontal bars) sets a class the stylesheet sizes text by."""
    head = format_html(
        '<svg class="chart{}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>',
        f" {shape}" if shape else "",
        width,
        height,
        label,
        label,
    )
    return mark_safe(head + "".join(body) + "</svg>")


def _axes(width: int, height: int, top: int) -> list[str]:
    base = height - _PAD_BOTTOM
    return [
        f'<line class="axis" x1="{_PAD_LEFT}" y1="{base}" x2="{width}" y2="{base}"/>',
        f'<text x="{_PAD_LEFT - 6}" y="{_PAD_TOP}" text-anchor="end" dominant-baseline="central">{short_number(top)}</text>',
        f'<text x="{_PAD_LEFT - 6}" y="{base}" text-anchor="end">0</text>',
    ]


def stacked_bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    label: str,
    width: int = 640,
    height: int = 200,
) -> SafeString:
    """Vertical bars, one per category, each stacking the values of every series.

    ``series`` is a list of ``(name, values)`` with one value per category; the n-th
    series is drawn with class ``SERIES_CLASSES[n]`` (at most six series).
    """
    if len(series) > len(SERIES_CLASSES):
        raise ValueError(f"stacked_bar_chart: at most {len(SERIES_CLASSES)} series")
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"stacked_bar_chart: series {name!r} has {len(values)} values for {len(categories)} categories")
        if any(v < 0 for v in values):
            raise ValueError(f"stacked_bar_chart: series {name!r} has a negative value")
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    plot_w = width - _PAD_LEFT
    plot_h = height - _PAD_BOTTOM - _PAD_TOP
    base = height - _PAD_BOTTOM
    body = _axes(width, height, top)
    n = len(categories)
    if n:
        slot = plot_w / n
        bar_w = max(1.0, slot * 0.8)
        every = _label_every(n, plot_w // 100)
        for i, category in enumerate(categories):
            x = _PAD_LEFT + i * slot + (slot - bar_w) / 2
            y = float(base)
            for k, (name, values) in enumerate(series):
                v = values[i]
                if not v:
                    continue
                h = plot_h * v / top
                y -= h
                tip = f"{category} {name}: {v}" if len(series) > 1 else f"{category}: {v}"
                body.append(
                    f'<rect class="{SERIES_CLASSES[k]}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(tip)}</title></rect>'
                )
            if i % every == 0:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                    f"{escape(category)}</text>"
                )
    return _svg(label, width, height, body)


def bar_chart(
    points: Sequence[tuple[str, int]], *, label: str, width: int = 640, height: int = 200
) -> SafeString:
    """Vertical bars for one series, e.g. declarations per day: ``[("11-24", 120), …]``."""
    categories = [c for c, _ in points]
    return stacked_bar_chart(categories, [(label, [v for _, v in points])], label=label, width=width, height=height)


def hbar_chart(items: Sequence[tuple[str, int]], *, label: str, width: int = 640) -> SafeString:
    """Horizontal bars, one row per item, longest first as given: ``[("Canada", 12), …]``."""
    if any(v < 0 for _, v in items):
        raise ValueError("hbar_chart: negative value")
    row = 32  # room for the phone size of the labels (see _PAD_LEFT)
    label_w = 200
    height = max(row, row * len(items))
    top = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - 60
    body: list[str] = []
    for i, (name, v) in enumerate(items):
        y = i * row
        w = plot_w * v / top
        body.append(
            f'<text x="{label_w - 6}" y="{y + row / 2}" text-anchor="end" dominant-baseline="central">{escape(name)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 6}" width="{w:.1f}" height="{row - 12}">'
            f"<title>{escape(name)}: {v}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + row / 2}" dominant-baseline="central">{v}</text>'
        )
    return _svg(label, width, height, body, shape="rows")


def legend(names: Sequence[str]) -> SafeString:
    """The HTML legend for a stacked chart's series, in series order."""
    items = "".join(
        format_html('<li><span class="swatch {}"></span>{}</li>', SERIES_CLASSES[k], name)
        for k, name in enumerate(names)
    )
    return mark_safe(f'<ul class="legend">{items}</ul>')
