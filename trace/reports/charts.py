"""Charts as SVG text: pure functions from values to an escaped SVG string, no JavaScript.

Styling is by class names (the page's stylesheet colours them), never by style attributes,
which the Content-Security-Policy (`style-src 'self'`) would block. Every label is
escaped; the functions take plain numbers and strings and return a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

FONT_SIZE: Final = 22


def _num(value: float) -> str:
    """Coordinates with at most one decimal, no trailing zeros: stable golden output."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 or value == int(value) else f"{value:.1f}"


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (an axis that reads well)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def bar_chart_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    width: int = 860,
    height: int = 300,
    label_every: int = 5,
    css_class: str = "chart",
) -> str:
    """A vertical bar chart: one bar per value, every `label_every`-th label under the axis,
    the axis maximum on the left. Bars carry class "bar" (the last one "bar now")."""
    if len(labels) != len(values):
        raise ValueError(f"labels and values differ in length: {len(labels)} and {len(values)}")
    left, right, top, bottom = 70, 10, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(values, default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>',
        f'<line class="grid" x1="{left}" y1="{top}" x2="{width - right}" y2="{top}"/>',
        f'<text class="tick" x="{left - 8}" y="{top + FONT_SIZE * 0.35 + 4}" text-anchor="end">{escape(_count(top_value))}</text>',
        f'<text class="tick" x="{left - 8}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    n = len(values)
    if n:
        slot = plot_w / n
        bar_w = max(slot * 0.7, 1.0)
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            h = 0.0 if top_value == 0 else plot_h * max(value, 0) / top_value
            x = left + i * slot + (slot - bar_w) / 2
            cls = "bar now" if i == n - 1 else "bar"
            parts.append(
                f'<rect class="{cls}" x="{_num(x)}" y="{_num(top + plot_h - h)}" width="{_num(bar_w)}" '
                f'height="{_num(h)}"><title>{escape(label)}: {escape(_count(value))}</title></rect>'
            )
            if i % label_every == 0 or i == n - 1:
                parts.append(
                    f'<text class="tick" x="{_num(left + i * slot + slot / 2)}" y="{height - 8}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    width: int = 860,
    height: int = 300,
    label_every: int = 5,
    css_class: str = "chart",
) -> str:
    """A line chart over the same axes as bar_chart_svg, with a dot on the last value."""
    if len(labels) != len(values):
        raise ValueError(f"labels and values differ in length: {len(labels)} and {len(values)}")
    left, right, top, bottom = 70, 16, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(values, default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>',
        f'<line class="grid" x1="{left}" y1="{top}" x2="{width - right}" y2="{top}"/>',
        f'<text class="tick" x="{left - 8}" y="{top + FONT_SIZE * 0.35 + 4}" text-anchor="end">{escape(_count(top_value))}</text>',
        f'<text class="tick" x="{left - 8}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    n = len(values)
    if n:
        step = plot_w / max(n - 1, 1)
        points = [
            (left + i * step, top + plot_h - (0.0 if top_value == 0 else plot_h * max(v, 0) / top_value))
            for i, v in enumerate(values)
        ]
        parts.append(
            f'<polyline class="line" points="{" ".join(f"{_num(x)},{_num(y)}" for x, y in points)}"/>'
        )
        x, y = points[-1]
        parts.append(
            f'<circle class="dot" cx="{_num(x)}" cy="{_num(y)}" r="7"><title>{escape(labels[-1])}: '
            f"{escape(_count(values[-1]))}</title></circle>"
        )
        for i, label in enumerate(labels):
            if i % label_every == 0 or i == n - 1:
                parts.append(
                    f'<text class="tick" x="{_num(points[i][0])}" y="{height - 8}" text-anchor="middle">{escape(label)}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def meter_svg(share: float | None, *, title: str, width: int = 300, height: int = 28) -> str:
    """A horizontal meter for a share 0..1 (class "meter", filled part "fill"); empty if None."""
    filled = 0.0 if share is None else max(0.0, min(1.0, share)) * width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="meter" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect class="track" x="0" y="0" width="{width}" height="{height}"/>'
        f'<rect class="fill" x="0" y="0" width="{_num(filled)}" height="{height}"/></svg>'
    )
