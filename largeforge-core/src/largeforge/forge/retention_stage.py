"""The retention half of the forge's eval stage: the base model and the expert on a general
held-out set (:mod:`largeforge.evaluation.retention`), gated by ``eval.max_regression``.

The base model's answers to the general rows are the same for every expert of a pipeline, so
they are scored once and kept in ``<workdir>/general-base/`` under a key of everything they
depend on (model, rows, settings, the set's content).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.config.evaluation import EvalConfig
from largeforge.evaluation.retention import GENERAL_SET, RETENTION_METRIC, general_examples, verdict
from largeforge.evaluation.scoring import bootstrap_of, score_models
from largeforge.utils.io import save_json

if TYPE_CHECKING:
    from largeforge.forge.spec import Pipeline
    from largeforge.forge.stages import Plan, Stage

#: The eval settings the base model's general answers depend on (not an expert's own data).
SCORING_SETTINGS = (
    "metrics",
    "max_new_tokens",
    "max_length",
    "evaluator",
    "format",
    "general_data",
    "bootstrap",
    "confidence",
    "seed",
)


def general_input(pipeline: Pipeline, config: EvalConfig) -> Path | None:
    """The general set an expert's retention is measured on (``eval.general_data`` or the shipped
    one), or ``None`` when ``eval.general_rows`` is 0."""
    if config.general_rows == 0:
        return None
    return pipeline.resolve(config.general_data) if config.general_data else GENERAL_SET


def general_config(config: EvalConfig) -> EvalConfig:
    """The eval settings the general rows are scored with: shorter answers, the retention metric
    always among the metrics."""
    metrics = list(dict.fromkeys([*config.metrics, RETENTION_METRIC]))
    return config.merged(max_new_tokens=config.general_max_new_tokens, metrics=metrics)


def _cached_base(plan: Plan, stage: Stage, config: EvalConfig, examples: list[Any], what: str) -> dict[str, Any]:
    base = plan.pipeline.spec.base_model
    settings = {
        "model": base,
        "set": stage.config["general_digest"],
        "rows": len(examples),
        "config": {k: v for k, v in config.to_dict().items() if k in SCORING_SETTINGS},
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache = plan.pipeline.workdir / "general-base" / f"{key}.json"
    try:
        return json.loads(cache.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        pass
    results, _ = score_models({"base": base}, examples, config, what)
    save_json(results["base"], cache)
    return results["base"]


def measure_retention(plan: Plan, stage: Stage, config: EvalConfig) -> dict[str, Any] | None:
    """Base and expert on the general rows, and the verdict of the retention gate (``None``
    when retention is off)."""
    if config.general_rows == 0:
        return None
    path = stage.inputs[-1]
    shipped = path == GENERAL_SET
    examples, source = general_examples(None if shipped else path, config.general_rows, config.format)
    settings = general_config(config)
    what = f"expert {stage.expert} (general set)"
    base = _cached_base(plan, stage, settings, examples, what)
    results, notes = score_models({"expert": stage.config["models"]["expert"]}, examples, settings, what)
    judged = verdict(
        base,
        results["expert"],
        examples,
        max_regression=config.max_regression,
        bootstrap=bootstrap_of(config),
    )
    return {
        "source": source,
        "rows": len(examples),
        "confidence": config.confidence,
        "models": {"base": base, "expert": results["expert"]},
        **judged,
        "notes": notes,
    }
