"""HTML table cells of the forge report: numbers, intervals and better/worse colouring."""

from __future__ import annotations

from html import escape
from typing import Any


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals (``–`` for none), anything else as escaped text."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def interval_text(value: Any, interval: Any, digits: int = 4, signed: bool = False) -> str:
    """``value [low, high]`` (the interval omitted when there is none)."""
    sign = "+" if signed else ""
    if value is None:
        return "–"
    text = f"{value:{sign}.{digits}f}" if isinstance(value, (int, float)) else escape(str(value))
    if interval and None not in interval:
        text += f" [{interval[0]:{sign}.{digits}f}, {interval[1]:{sign}.{digits}f}]"
    return text


def table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table of ``rows`` (lists of ready ``<td>`` cells) under ``headers``."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def td(value: Any, digits: int = 4, cls: str = "", interval: Any = None, signed: bool = False) -> str:
    """One cell: right-aligned when numeric, with its interval when given."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    classes = " ".join(c for c in ("num" if numeric else "", cls) if c)
    text = interval_text(value, interval, digits, signed) if interval is not None or signed else num(value, digits)
    return f'<td class="{classes}">{text}</td>' if classes else f"<td>{text}</td>"


def delta_class(before: float | None, after: float | None, higher_is_better: bool) -> str:
    """``better``/``worse`` (a CSS class) for a change from ``before`` to ``after``."""
    if before is None or after is None or before == after:
        return ""
    return "better" if (after > before) == higher_is_better else "worse"
