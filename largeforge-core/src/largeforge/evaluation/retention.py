"""Retention: what an expert still knows outside its task, measured on a general held-out set.

LargeForge ships ``general.jsonl`` (written for the project and licensed like it, Apache-2.0):
240 questions with short reference answers across common knowledge, reasoning, writing and code,
interleaved by category so that its first rows are a balanced subset ("What is the capital of
France?" → "Paris" first). The base model and the expert answer the same rows; the drop of one
metric (``contains`` by default) from base to expert is the regression the eval stage gates on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from largeforge.contracts import EvalExample
from largeforge.errors import LargeForgeError
from largeforge.evaluation.bootstrap import Bootstrap
from largeforge.evaluation.holdout import eval_examples
from largeforge.evaluation.scoring import compare

#: The general set shipped with LargeForge.
GENERAL_SET = Path(__file__).with_name("general.jsonl")
#: Lost rows kept in the verdict (the report lists them; the one-line warning names the first).
LOST_SHOWN = 10
RETENTION_METRIC = "contains"


class RetentionError(LargeForgeError):
    """An expert lost more general ability than ``eval.max_regression`` allows (``eval.strict``)."""


def general_examples(path: Path | None, rows: int, fmt: str = "auto") -> tuple[list[EvalExample], str]:
    """The first ``rows`` examples of the general set at ``path`` (the shipped one when ``None``),
    and a sentence saying where they come from."""
    from largeforge.data import load_conversations

    source = path or GENERAL_SET
    examples = eval_examples(load_conversations(source, fmt if path else "alpaca"))
    name = source.name if path else "LargeForge's general set"
    return examples[:rows], f"{min(rows, len(examples))} of {len(examples)} rows of {name}"


def verdict(
    base: dict[str, Any],
    expert: dict[str, Any],
    examples: list[EvalExample],
    *,
    max_regression: float,
    bootstrap: Bootstrap,
    metric: str = RETENTION_METRIC,
) -> dict[str, Any]:
    """Base against expert on the general rows: the paired ``comparison`` of every figure, the
    ``regression`` of ``metric`` (base minus expert), whether it ``passed`` (regression at most
    ``max_regression``) and the rows the base answered and the expert no longer does (``lost``)."""
    comparison = compare(base, expert, bootstrap)
    figures = comparison.get(metric)
    regression = 0.0 - figures["delta"] if figures else None  # 0.0 - 0.0 is 0.0, not -0.0
    by_row = {r["row"]: r for r in base.get("per_row") or []}
    lost = []
    for row in expert.get("per_row") or []:
        before = by_row.get(row["row"])
        if before and before["scores"].get(metric, 0.0) > row["scores"].get(metric, 0.0):
            example = examples[row["row"]]
            lost.append({"prompt": example.prompt[-1]["content"], "reference": example.reference})
    return {
        "metric": metric,
        "max_regression": max_regression,
        "regression": regression,
        "passed": regression is None or regression <= max_regression,
        "comparison": comparison,
        "lost": lost[:LOST_SHOWN],
        "lost_count": len(lost),
    }


def retention_line(expert: str, general: dict[str, Any]) -> str:
    """One line saying what an expert that failed the retention gate lost."""
    metric = general["metric"]
    figures = general["comparison"][metric]
    low, high = figures["interval"] or (figures["delta"], figures["delta"])
    confidence = round(100 * general.get("confidence", 0.95))
    shown = "; ".join(f"{r['prompt']!r} ({r['reference']})" for r in general["lost"][:2])
    return (
        f"expert {expert} lost general ability: {metric} on {general['source']} fell "
        f"{figures['before']:.2f} → {figures['after']:.2f} (change {figures['delta']:+.2f}, {confidence}% CI "
        f"{low:+.2f}..{high:+.2f}), more than eval.max_regression {general['max_regression']:.2f}; "
        f"{general['lost_count']} answers lost, e.g. {shown or 'none'}"
    )
