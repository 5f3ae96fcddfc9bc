"""Run a plan stage by stage through the registered plugins, skipping finished stages.

A stage writes ``forge-stage.pending.json`` (its key) when it starts and ``forge-stage.json``
(key, time, metrics) when it is complete, last and atomically; a crash leaves no completion
record, and a re-run with the same key resumes training from its latest checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from largeforge.forge.stages import MARKER, PENDING, Plan, Stage, stage_source
from largeforge.utils.io import atomic_write
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)


@dataclass
class StageOutcome:
    stage: Stage
    status: str  # "ran", "skipped"
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def _pending_key(stage: Stage) -> str | None:
    try:
        return str(json.loads((stage.output / PENDING).read_text())["key"])
    except (OSError, ValueError, KeyError):
        return None


def run_plan(plan: Plan, *, on_stage: Callable[[Stage, str], None] | None = None) -> list[StageOutcome]:
    """Run every stage whose key changed; return what happened to each."""
    outcomes = []
    for stage in plan.stages:
        record = stage.record()
        if record is not None:
            outcomes.append(StageOutcome(stage, "skipped", record.get("seconds", 0.0), record.get("metrics", {})))
            if on_stage:
                on_stage(stage, "skipped")
            continue
        if on_stage:
            on_stage(stage, "running")
        outcomes.append(run_stage(plan, stage))
        if on_stage:
            on_stage(stage, "done")
    return outcomes


def run_stage(plan: Plan, stage: Stage) -> StageOutcome:
    """Run one stage now (its output directory is replaced unless it can be resumed)."""
    resume = _pending_key(stage) == stage.key and any(stage.output.glob("checkpoint-*"))
    if stage.output.exists() and not resume:
        shutil.rmtree(stage.output)
    stage.output.mkdir(parents=True, exist_ok=True)
    atomic_write(stage.output / PENDING, json.dumps({"key": stage.key}))
    start = time.perf_counter()
    metrics = RUNNERS[stage.kind](plan, stage, resume)
    seconds = round(time.perf_counter() - start, 1)
    atomic_write(
        stage.marker,
        json.dumps(
            {"key": stage.key, "kind": stage.kind, "plugin": stage.plugin, "seconds": seconds, "metrics": metrics},
            indent=2,
        ),
    )
    (stage.output / PENDING).unlink(missing_ok=True)
    return StageOutcome(stage, "ran", seconds, metrics)


def _model_input(plan: Plan, stage: Stage) -> str:
    return str(stage.upstream.output) if stage.upstream else plan.pipeline.spec.base_model


def _train(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    from largeforge.config import LoRAConfig
    from largeforge.forge.eval_stage import auto_eval_steps, training_datasets
    from largeforge.forge.plan import stage_config_class
    from largeforge.plugins import registries

    trainer_cls = registries().trainers.get(stage.plugin)
    config = stage_config_class(trainer_cls, stage.kind).from_dict(stage.config["train"])
    # Held-out rows (the eval stage's) are left out of training and evaluated on while it trains.
    load_own = getattr(trainer_cls, "load_stage_data", None)
    if callable(load_own):  # a trainer with its own data layout (GRPO's prompts): no held-out rows
        dataset, heldout = load_own(stage.inputs[0], stage.config["train"]), None
    else:
        dataset, heldout = training_datasets(stage)
    eval_steps = auto_eval_steps(stage, len(dataset))
    if eval_steps is not None:
        config = config.merged(eval_steps=eval_steps)
    lora = LoRAConfig.from_dict(stage.config["lora"]) if stage.config["lora"] is not None else None
    trainer = trainer_cls(
        _model_input(plan, stage), config, lora, resume=resume, chat_template=stage.config.get("chat_template")
    )
    result = trainer.train(dataset, heldout)
    keep = (
        "train_loss",
        "train_runtime",
        "eval_loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "kl",
        "reward",
        "reward_first",
        "reward_last",
    )
    metrics = {k: round(float(v), 4) for k, v in result.metrics.items() if k in keep}
    return {"loss": round(float(result.loss), 4), "steps": result.global_step, "rows": len(dataset), **metrics}


def _merge(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    from largeforge.plugins import registries

    assert stage.upstream is not None
    trainer_cls = registries().trainers.get(stage.plugin)
    trainer_cls.merge_adapter(str(stage.upstream.output), str(stage.output))  # type: ignore[attr-defined]
    return {}


def calibration_texts(
    model_dir: str, data: Any, num_samples: int, seed: int = 0, holdout: dict[str, Any] | None = None
) -> list[str]:
    """``num_samples`` rows of the expert's own data rendered with the model's chat template
    (never the eval stage's held-out rows, described by ``holdout``)."""
    from transformers import AutoTokenizer

    from largeforge.data import ChatFormatter
    from largeforge.forge.eval_stage import split_stage_data

    conversations = split_stage_data(data, "auto", holdout).train
    random.Random(seed).shuffle(conversations)
    formatter = ChatFormatter(AutoTokenizer.from_pretrained(model_dir))
    return [formatter.format_conversation(c) for c in conversations[:num_samples]]


def _quantize(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    from largeforge.plugins import registries

    model_dir = _model_input(plan, stage)
    if stage.upstream is None:
        from largeforge.models import resolve_model

        model_dir = str(resolve_model(model_dir))
    first = stage
    while first.upstream is not None:
        first = first.upstream
    texts = calibration_texts(
        model_dir, stage_source(stage), stage.config["num_samples"], holdout=first.config.get("holdout")
    )
    # The quantizer writes its own directory: hand it a fresh one inside the stage output.
    target = stage.artifact
    quantizer = registries().quantizers.get(stage.plugin)(
        model_dir, bits=stage.config["bits"], **stage.config["options"]
    )
    result = quantizer.quantize(texts, str(target))
    metrics: dict[str, Any] = {"calibration_rows": len(texts)}
    report = getattr(result, "to_dict", None)
    if callable(report):
        summary = report()
        for key in ("size_ratio", "linear_ratio", "perplexity_ratio"):
            if key in summary:
                metrics[key] = summary[key]
    return metrics


def _evaluate(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    from largeforge.forge.eval_stage import run_eval

    return run_eval(plan, stage, resume)


def _route(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    from largeforge.forge.route_stage import run_routing

    return run_routing(plan, stage, resume)


RUNNERS: dict[str, Callable[[Plan, Stage, bool], dict[str, Any]]] = {
    "sft": _train,
    "align": _train,
    "merge": _merge,
    "quantize": _quantize,
    "eval": _evaluate,
    "route": _route,
}


__all__ = ["MARKER", "StageOutcome", "calibration_texts", "run_plan", "run_stage"]
