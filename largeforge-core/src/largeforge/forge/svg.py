"""Small inline SVG charts for the forge report: line, grouped bar, horizontal bar, heat map.

Each returns one ``<svg class="plot" data-plot="…">`` element that needs no script, font or
network; values show on hover through SVG ``<title>`` elements.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels with as many decimals as the step between ticks needs."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = next((d for d in range(7) if abs(round(step, d) - step) < step * 1e-6), 6)
    return [f"{t:,.{decimals}f}" for t in ticks]


def _open(plot_id: str, width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg class="plot" data-plot="{escape(plot_id)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="16" text-anchor="middle" {FONT} font-weight="600">{escape(title)}</text>',
    ]


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        yy = y + i * 14
        parts.append(
            f'<rect x="{x}" y="{yy - 8}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{yy + 1}" {FONT}>{escape(name)}</text>'
        )
    return parts


def line_chart(
    series: Mapping[str, Sequence[Sequence[float]]],
    *,
    title: str,
    plot_id: str,
    x_label: str = "step",
    y_label: str = "loss",
    width: int = 520,
    height: int = 260,
) -> str:
    """Lines of ``[x, y]`` points, one per named series, on shared axes."""
    left, right, top, bottom = 56, 110, 28, 40
    points = [p for values in series.values() for p in values]
    xs, ys = [p[0] for p in points] or [0.0], [p[1] for p in points] or [0.0]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y0) / ((y1 - y0) or 1) * plot_h

    parts = _open(plot_id, width, height, title)
    for t, text in zip(y_ticks, _tick_labels(y_ticks), strict=True):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" {FONT}>{text}</text>'
        )
    for t, text in zip(x_ticks, _tick_labels(x_ticks), strict=True):
        parts.append(f'<text x="{sx(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle" {FONT}>{text}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9ca3af"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" {FONT}>{escape(x_label)}</text>')
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    for i, (name, values) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        for x, y in values:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} at {x_label} {_fmt(x)}: {y:.4f}</title></circle>"
            )
    parts += _legend(list(series), left + plot_w + 12, top + 10)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    plot_id: str,
    y_max: float | None = None,
    width: int = 520,
    height: int = 260,
) -> str:
    """Grouped bars: for each category one bar per named series (``None`` draws no bar)."""
    left, right, top, bottom = 48, 110, 28, 40
    values = [v for vs in series.values() for v in vs if v is not None]
    ticks = nice_ticks(0.0, y_max if y_max is not None else max(values or [1.0]))
    top_value = ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = _open(plot_id, width, height, title)
    for t, text in zip(ticks, _tick_labels(ticks), strict=True):
        y = top + plot_h - t / top_value * plot_h
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{text}</text>'
        )
    for c, category in enumerate(categories):
        gx = left + c * group_w + group_w * 0.1
        parts.append(
            f'<text x="{left + (c + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f"{FONT}>{escape(category)}</text>"
        )
        for s, (name, vs) in enumerate(series.items()):
            value = vs[c] if c < len(vs) else None
            if value is None:
                continue
            h = max(value, 0) / top_value * plot_h
            x, y = gx + s * bar_w, top + plot_h - h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} · {escape(category)}: '
                f"{value:.4f}</title></rect>"
                f'<text x="{x + bar_w * 0.46:.1f}" y="{y - 3:.1f}" text-anchor="middle" {FONT}>'
                f"{_fmt(value)}</text>"
            )
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#6b7280"/>')
    parts += _legend(list(series), left + plot_w + 12, top + 10)
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    items: Sequence[tuple[str, float]], *, title: str, plot_id: str, unit: str = "s", width: int = 520
) -> str:
    """One horizontal bar per ``(label, value)``, longest first as given."""
    left, right, top, row = 170, 60, 28, 20
    height = top + row * max(len(items), 1) + 12
    top_value = max([v for _, v in items] or [1.0]) or 1.0
    plot_w = width - left - right
    parts = _open(plot_id, width, height, title)
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = value / top_value * plot_w
        parts.append(
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" {FONT}>{escape(label)}</text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {value:.1f} {unit}</title></rect>'
            f'<text x="{left + max(w, 1) + 4:.1f}" y="{y + 13}" {FONT}>{value:.1f} {unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    labels: Sequence[str],
    matrix: Mapping[str, Mapping[str, int]],
    *,
    title: str,
    plot_id: str,
    row_label: str = "true expert",
    column_label: str = "routed to",
) -> str:
    """A confusion matrix: counts in cells shaded by their share of the row."""
    cell, left = 56, 130
    # Column labels are slanted so that long expert names do not run into each other; the top
    # margin grows with the longest (about 6 px per character at 11 px, sin 40° ≈ 0.64).
    slant = max((len(label) for label in labels), default=0) * 6 * 0.64
    top = int(54 + slant)
    size = cell * len(labels)
    width, height = left + size + 40, top + size + 20
    parts = _open(plot_id, width, height, title)
    parts.append(f'<text x="{left + size / 2}" y="32" text-anchor="middle" {FONT}>{escape(column_label)}</text>')
    for j, label in enumerate(labels):
        x, y = left + (j + 0.5) * cell, top - 8
        parts.append(
            f'<text x="{x}" y="{y}" text-anchor="start" transform="rotate(-40 {x} {y})" {FONT}>{escape(label)}</text>'
        )
    for i, true in enumerate(labels):
        row = matrix.get(true, {})
        total = sum(row.values()) or 1
        parts.append(
            f'<text x="{left - 8}" y="{top + (i + 0.5) * cell + 4}" text-anchor="end" {FONT}>{escape(true)}</text>'
        )
        for j, predicted in enumerate(labels):
            count = row.get(predicted, 0)
            share = count / total
            fill = f"rgba(37, 99, 235, {0.08 + 0.85 * share:.2f})"
            ink = "#fff" if share > 0.5 else "#111"
            parts.append(
                f'<rect class="cell" x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{fill}"><title>{escape(true)} → {escape(predicted)}: {count}'
                f'</title></rect><text x="{left + (j + 0.5) * cell}" y="{top + (i + 0.5) * cell + 4}" '
                f'text-anchor="middle" fill="{ink}" {FONT}>{count}</text>'
            )
    parts.append(
        f'<text x="12" y="{top + size / 2}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 12 {top + size / 2})">{escape(row_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
