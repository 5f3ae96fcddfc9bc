"""Score several models on the same examples through the registered evaluator and metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from largeforge.config.evaluation import EvalConfig
from largeforge.contracts import EvalExample
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)


def score_models(
    models: Mapping[str, str], examples: Sequence[EvalExample], config: EvalConfig, what: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``label → ModelEvaluation`` (as dicts) for each of ``models`` (``label → model``), and one
    note per model that could not score every row (rows longer than its context), each logged
    as one warning line naming ``what`` was evaluated."""
    from largeforge.plugins import registries

    metrics = {name: registries().metrics.get(name) for name in config.metrics}
    factory = registries().evaluators.get(config.evaluator)
    results: dict[str, dict[str, Any]] = {}
    notes = []
    for label, model in models.items():
        measured = factory(model).evaluate(
            examples, metrics, max_new_tokens=config.max_new_tokens, max_length=config.max_length
        )
        results[label] = asdict(measured)
        if measured.skipped:
            scored = "none fit" if not measured.rows else f"{measured.rows} scored"
            note = (
                f"{what}: {measured.skipped} of {len(examples)} eval rows do not fit the "
                f"{measured.max_length}-token context of {label} ({model}): skipped, {scored}"
            )
            logger.warning(note)
            notes.append(note)
    return results, notes
