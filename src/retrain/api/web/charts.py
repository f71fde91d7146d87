"""Charts as inline SVG, rendered on the server: no JavaScript library, nothing fetched at run time.

Three shapes cover the dashboard: a line of values across versions or times with horizontal threshold
lines (a quality metric with the gate's bounds, the drift score with the alert threshold), and horizontal
bars (per-feature PSI with its threshold). Each function is pure: data in, an `<svg>` string out, every
label escaped. A missing value (None, NaN) leaves a gap in the line, never a zero; no data at all gives a
chart that says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 560
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 28, 40


@dataclass(frozen=True)
class Point:
    label: str  # the x-axis label: a version ("v3") or a time
    value: float | None  # None: not measured (a gap)


@dataclass(frozen=True)
class Rule:
    """A horizontal line: a threshold (`min`, `max`, `alert`) drawn across the chart."""

    label: str
    value: float
    kind: str = "threshold"  # a CSS class suffix: threshold | alert


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    flagged: bool = False  # drawn as over the threshold (e.g. a drifted feature)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def value_range(values: Sequence[float], *, floor: float | None = None) -> tuple[float, float]:
    """The y-axis range: every value inside with 8% padding; one value or equal values get a band around
    them; `floor` (e.g. 0 for scores) is never crossed."""
    if not values:
        return (0.0, 1.0)
    lo, hi = min(values), max(values)
    pad = (abs(hi) * 0.1 or 0.5) if hi - lo < 1e-12 else (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    if floor is not None:
        lo = max(lo, floor)
        hi = max(hi, floor + 1e-9)
    return (lo, hi)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _frame(title: str, body: list[str], *, width: int = WIDTH, height: int = HEIGHT) -> str:
    text = escape(title)
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{text}"><title>{text}</title>'
        f'<text class="chart-title" x="{_LEFT}" y="16">{text}</text>' + "".join(body) + "</svg>"
    )


def _empty(title: str, message: str) -> str:
    note = f'<text class="chart-empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle">'
    return _frame(title, [note + escape(message) + "</text>"])


def line_chart(
    title: str,
    points: Sequence[Point],
    rules: Sequence[Rule] = (),
    *,
    floor: float | None = None,
    empty: str = "no values yet",
) -> str:
    """Values in order (x evenly spaced), joined where consecutive values exist, with threshold rules."""
    measured = [p.value for p in points if p.value is not None and math.isfinite(p.value)]
    if not measured:
        return _empty(title, empty)
    lo, hi = value_range([*measured, *(r.value for r in rules if math.isfinite(r.value))], floor=floor)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w / 2 if len(points) == 1 else plot_w * i / (len(points) - 1))

    def y(v: float) -> float:
        return _TOP + plot_h * (hi - v) / (hi - lo)

    body = [
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}"/>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end">{_fmt(hi)}</text>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + plot_h}" text-anchor="end">{_fmt(lo)}</text>',
    ]
    for rule in rules:
        if not math.isfinite(rule.value):
            continue
        ry = y(rule.value)
        label = escape(f"{rule.label} {_fmt(rule.value)}")
        body.append(
            f'<line class="rule rule-{escape(rule.kind)}" x1="{_LEFT}" y1="{ry:.1f}" '
            f'x2="{_LEFT + plot_w}" y2="{ry:.1f}"><title>{label}</title></line>'
            f'<text class="rule-label" x="{_LEFT + plot_w}" y="{ry - 3:.1f}" text-anchor="end">{label}</text>'
        )
    segment: list[str] = []
    for i, point in enumerate(points):
        if _finite(point.value):
            assert point.value is not None
            segment.append(f"{x(i):.1f},{y(point.value):.1f}")
        elif segment:
            body.append(_polyline(segment))
            segment = []
    if segment:
        body.append(_polyline(segment))
    step = max(1, math.ceil(len(points) / 10))  # at most ~10 x labels
    for i, point in enumerate(points):
        if _finite(point.value):
            assert point.value is not None
            tip = escape(f"{point.label}: {_fmt(point.value)}")
            body.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(point.value):.1f}" r="3.5">'
                f"<title>{tip}</title></circle>"
            )
        if i % step == 0 or i == len(points) - 1:
            body.append(
                f'<text class="tick" x="{x(i):.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle">'
                f"{escape(point.label)}</text>"
            )
    return _frame(title, body)


def _polyline(coords: list[str]) -> str:
    return f'<polyline class="series" fill="none" points="{" ".join(coords)}"/>'


def bar_chart(title: str, bars: Sequence[Bar], rule: Rule | None = None, *, empty: str = "no values") -> str:
    """Horizontal bars from 0 (one row per bar, the chart grows with them) with an optional threshold."""
    shown = [b for b in bars if math.isfinite(b.value)]
    if not shown:
        return _empty(title, empty)
    row, label_w = 16, 190
    height = _TOP + row * len(shown) + 24
    plot_w = WIDTH - label_w - _RIGHT - 40
    top = max([b.value for b in shown] + ([rule.value] if rule and math.isfinite(rule.value) else []))
    top = top * 1.05 if top > 0 else 1.0

    def x(v: float) -> float:
        return label_w + plot_w * max(0.0, v) / top

    body: list[str] = []
    for i, bar in enumerate(shown):
        y0 = _TOP + i * row
        cls = "bar bar-flagged" if bar.flagged else "bar"
        tip = escape(f"{bar.label}: {_fmt(bar.value)}")
        body.append(
            f'<text class="tick" x="{label_w - 6}" y="{y0 + 11}" text-anchor="end">{escape(bar.label)}</text>'
            f'<rect class="{cls}" x="{label_w}" y="{y0 + 2}" width="{x(bar.value) - label_w:.1f}" '
            f'height="{row - 4}"><title>{tip}</title></rect>'
            f'<text class="tick" x="{x(bar.value) + 4:.1f}" y="{y0 + 11}">{_fmt(bar.value)}</text>'
        )
    if rule is not None and math.isfinite(rule.value):
        rx = x(rule.value)
        label = escape(f"{rule.label} {_fmt(rule.value)}")
        body.append(
            f'<line class="rule rule-{escape(rule.kind)}" x1="{rx:.1f}" y1="{_TOP}" x2="{rx:.1f}" '
            f'y2="{_TOP + row * len(shown)}"><title>{label}</title></line>'
            f'<text class="rule-label" x="{rx:.1f}" y="{_TOP + row * len(shown) + 14}" '
            f'text-anchor="middle">{label}</text>'
        )
    return _frame(title, body, height=height)
