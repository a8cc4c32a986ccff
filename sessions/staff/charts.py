"""Bar charts as server-rendered SVG geometry: no JavaScript, no inline styles.

The template draws what this computes (rects, gridlines, labels); colours come from
classes in static/css/staff.css, so the strict CSP (style-src 'self') holds and the
chart follows the admin's light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 800, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass
class BarChart:
    key: str  # for element ids
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[XLabel] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (>= 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def bar_chart(
    *,
    key: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    titles: Sequence[str],
) -> BarChart:
    """One bar per label for each series, drawn over each other: the first series is the
    widest (e.g. minutes reserved), each next one narrower in front (minutes used).

    `series` holds (css class, legend label, values); `titles` is each slot's tooltip.
    """
    chart = BarChart(key=key, title=title, description=description)
    chart.legend = [(css, label) for css, label, _ in series]
    highest = max((max(values, default=0) for _, _, values in series), default=0)
    # Gridlines at round steps (at most four of them above zero), the top one at or
    # just above the highest bar.
    step = nice_ceiling(highest / 4)
    steps = max(1, math.ceil(highest / step))
    top = step * steps
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - TOP
    for i in range(steps + 1):
        y = chart.plot_bottom - plot_h * i / steps
        chart.ticks.append(Tick(y=round(y, 2), label=_fmt(step * i)))
    n = max(1, len(labels))
    slot = plot_w / n
    for index, (css, _, values) in enumerate(series):
        # Each series in front is narrower, so the one behind still shows around it.
        width = max(0.6, slot * (0.8 - 0.3 * index))
        for i, value in enumerate(values):
            height = plot_h * value / top if value else 0
            chart.bars.append(
                Bar(
                    x=round(chart.plot_left + slot * i + (slot - width) / 2, 2),
                    y=round(chart.plot_bottom - height, 2),
                    width=round(width, 2),
                    height=round(height, 2),
                    css=css,
                    title=titles[i],
                )
            )
    every = max(1, math.ceil(n / MAX_X_LABELS))
    for i, label in enumerate(labels):
        if i % every == 0:
            chart.x_labels.append(
                XLabel(x=round(chart.plot_left + slot * (i + 0.5), 2), label=label)
            )
    return chart
