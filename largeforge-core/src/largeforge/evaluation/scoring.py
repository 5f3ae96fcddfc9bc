"""Score several models on the same examples through the registered evaluator and metrics, with
bootstrap intervals on every figure and paired comparisons of two models on their common rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from largeforge.config.evaluation import EvalConfig
from largeforge.contracts import EvalExample
from largeforge.evaluation.bootstrap import Bootstrap
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)


def bootstrap_of(config: EvalConfig) -> Bootstrap:
    """The bootstrap an eval config asks for (``bootstrap`` resamples at ``confidence``, ``seed``)."""
    return Bootstrap(resamples=config.bootstrap, confidence=config.confidence, seed=config.seed)


def _perplexity(loss: float) -> float | None:
    return round(math.exp(loss), 4) if loss < 700 else None


def intervals(measured: Mapping[str, Any], bootstrap: Bootstrap) -> dict[str, list[float] | None]:
    """``{"loss", "perplexity", <metric>…: [low, high]}`` from a result's ``per_row`` (empty
    when the evaluator gave no per-row figures)."""
    rows = measured.get("per_row") or []
    if not rows:
        return {}
    loss = bootstrap.loss([r["loss"] for r in rows], [r["tokens"] for r in rows])
    out: dict[str, list[float] | None] = {"loss": loss}
    if loss is not None:
        low, high = _perplexity(loss[0]), _perplexity(loss[1])
        out["perplexity"] = [low, high] if low is not None and high is not None else None
    for name in measured.get("metrics", {}):
        out[name] = bootstrap.mean([r["scores"].get(name, 0.0) for r in rows])
    return out


def compare(before: Mapping[str, Any], after: Mapping[str, Any], bootstrap: Bootstrap) -> dict[str, Any]:
    """``after`` against ``before`` on the rows both scored: per metric (and ``loss``) the two
    means, ``delta`` (after − before) and the paired bootstrap ``interval`` of the delta."""
    first = {r["row"]: r for r in before.get("per_row") or []}
    pairs = [(first[r["row"]], r) for r in after.get("per_row") or [] if r["row"] in first]
    result: dict[str, Any] = {"rows": len(pairs)}
    if not pairs:
        return result
    for name in after.get("metrics", {}):
        a = [p[0]["scores"].get(name, 0.0) for p in pairs]
        b = [p[1]["scores"].get(name, 0.0) for p in pairs]
        mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
        result[name] = {
            "before": round(mean_a, 4),
            "after": round(mean_b, 4),
            "delta": round(mean_b - mean_a, 4),
            "interval": bootstrap.difference(a, b),
        }

    def weighted(side: int, draw: Sequence[int]) -> float:
        count = sum(pairs[i][side]["tokens"] for i in draw)
        return sum(pairs[i][side]["loss"] * pairs[i][side]["tokens"] for i in draw) / count if count else 0.0

    every = range(len(pairs))
    result["loss"] = {
        "before": round(weighted(0, every), 4),
        "after": round(weighted(1, every), 4),
        "delta": round(weighted(1, every) - weighted(0, every), 4),
        "interval": bootstrap.interval(lambda draw: weighted(1, draw) - weighted(0, draw), len(pairs)),
    }
    return result


def score_models(
    models: Mapping[str, str], examples: Sequence[EvalExample], config: EvalConfig, what: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``label → ModelEvaluation`` (as dicts, with ``intervals``) for each of ``models``
    (``label → model``), and one note per model that could not score every row (rows longer
    than its context), each logged as one warning line naming ``what`` was evaluated."""
    from largeforge.plugins import registries

    metrics = {name: registries().metrics.get(name) for name in config.metrics}
    factory = registries().evaluators.get(config.evaluator)
    bootstrap = bootstrap_of(config)
    results: dict[str, dict[str, Any]] = {}
    notes = []
    for label, model in models.items():
        measured = factory(model).evaluate(
            examples, metrics, max_new_tokens=config.max_new_tokens, max_length=config.max_length
        )
        results[label] = asdict(measured)
        results[label]["intervals"] = intervals(results[label], bootstrap)
        if measured.skipped:
            scored = "none fit" if not measured.rows else f"{measured.rows} scored"
            note = (
                f"{what}: {measured.skipped} of {len(examples)} eval rows do not fit the "
                f"{measured.max_length}-token context of {label} ({model}): skipped, {scored}"
            )
            logger.warning(note)
            notes.append(note)
    return results, notes
