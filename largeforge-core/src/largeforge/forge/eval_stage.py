"""The eval stage of ``largeforge forge``: each expert against its base model (and its quantized
model, when there is one) on the expert's held-out rows or a given eval file.

The held-out rows are a seeded split of the expert's data (``eval.val_size``, ``eval.seed``); the
SFT stage trains on the rest and evaluates on them while it trains (the eval loss curve). The
stage calls the evaluator registered under ``eval.evaluator`` and the metrics registered under
``eval.metrics``, writes ``eval.json`` beside its completion record, and is keyed and skipped like
every other stage. Problems that leave something unmeasured (no held-out rows, rows longer than a
model's context, too few rows to tell base from expert) are one line in the log and a note in the
report; the run goes on. Every figure carries a bootstrap interval, and the expert's change over
the base model a paired one. Retention on a general set (:mod:`largeforge.forge.retention_stage`)
warns, or fails the stage with one line when ``eval.strict``, when the expert lost more than
``eval.max_regression``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from largeforge.config.evaluation import EvalConfig
from largeforge.forge.checks import PlanError, check_options, require_plugin
from largeforge.forge.retention_stage import general_input, measure_retention
from largeforge.forge.spec import ExpertSpec, Pipeline
from largeforge.forge.stages import Plan, Stage, file_digest, stage_key, stage_source
from largeforge.utils.logging import get_logger

if TYPE_CHECKING:
    import datasets

    from largeforge.contracts import EvalExample
    from largeforge.evaluation import Split

logger = get_logger(__name__)
EVAL_FILE = "eval.json"


def eval_settings(pipeline: Pipeline, index: int, expert: ExpertSpec) -> EvalConfig | None:
    """The expert's eval options (``defaults.eval`` under its own ``eval``), or ``None`` when
    disabled; bad options, metrics or evaluators fail here, before anything trains."""
    at = ("experts", index, "eval")
    options = {**pipeline.spec.defaults.eval, **expert.eval}
    config = EvalConfig.from_dict(check_options(EvalConfig, options, pipeline, *at))
    if not config.enabled:
        return None
    require_plugin("evaluators", config.evaluator, pipeline.where(*at), "stage eval")
    for name in config.metrics:
        require_plugin("metrics", name, pipeline.where(*at, "metrics"), "stage eval")
    for option in ("data", "general_data"):
        value = getattr(config, option)
        if value is not None and not pipeline.resolve(value).is_file():
            raise PlanError(
                f"{pipeline.where(*at, option)}: eval file {value!r} not found (looked at {pipeline.resolve(value)})"
            )
    return config


def holdout_options(config: EvalConfig | None, sft_options: dict[str, Any]) -> dict[str, Any]:
    """What the SFT stage's config gains: the split it must leave out (none with an eval file),
    and whether it picks its own ``eval_steps`` (when the pipeline sets none)."""
    if config is None or config.data is not None or config.val_size == 0:
        return {}
    return {
        "holdout": {
            "val_size": config.val_size,
            "seed": config.seed,
            "auto_eval_steps": "eval_steps" not in sft_options,
        }
    }


def split_stage_data(path: Any, fmt: str, holdout: dict[str, Any] | None) -> Split:
    """The training and held-out rows of a stage's data (a path or a data source; nothing held out
    without ``holdout``)."""
    from largeforge.data import load_conversations
    from largeforge.evaluation import Split, split_conversations

    conversations = load_conversations(path, fmt)
    if not holdout:
        return Split(train=conversations, heldout=[])
    return split_conversations(conversations, holdout["val_size"], holdout["seed"])


def training_datasets(stage: Stage) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """A training stage's dataset without its held-out rows, and those rows as its eval set."""
    from largeforge.data import conversations_to_dataset

    split = split_stage_data(stage_source(stage), stage.config["format"], stage.config.get("holdout"))
    heldout = conversations_to_dataset(split.heldout) if split.heldout else None
    return conversations_to_dataset(split.train), heldout


def auto_eval_steps(stage: Stage, train_rows: int) -> int | None:
    """About ten evaluations over the run, when the SFT stage holds rows out and the pipeline
    did not set ``eval_steps``; ``None`` otherwise."""
    holdout = stage.config.get("holdout") or {}
    if not holdout.get("auto_eval_steps"):
        return None
    train = stage.config["train"]
    per_step = train["per_device_train_batch_size"] * train["gradient_accumulation_steps"]
    total = (
        train["max_steps"] if train["max_steps"] > 0 else math.ceil(train_rows / per_step) * train["num_train_epochs"]
    )
    return max(1, math.ceil(total / 10))


def plan_eval(pipeline: Pipeline, expert: ExpertSpec, config: EvalConfig | None, stages: list[Stage]) -> Stage | None:
    """The eval stage after an expert's model stages (their keys must be set), or ``None``."""
    if config is None:
        return None
    trained = [s for s in stages if s.kind != "quantize"][-1]
    quantized = next((s for s in stages if s.kind == "quantize"), None)
    models = {"base": pipeline.spec.base_model} if config.compare_base else {}
    models["expert"] = str(trained.artifact)
    if quantized is not None:
        models["quantized"] = str(quantized.artifact)
    sft = stages[0]
    general = general_input(pipeline, config)
    # The general set goes last: the retention half reads it as the stage's last input.
    inputs = [sft.inputs[0], *([pipeline.resolve(config.data)] if config.data else []), *([general] if general else [])]
    stage = Stage(
        expert.name,
        "eval",
        config.evaluator,
        sft.output.parent / "eval",
        {
            "eval": config.to_dict(),
            "format": sft.config["format"],
            "data": sft.config["data"],
            "holdout": sft.config.get("holdout"),
            "models": models,
            "general_digest": file_digest(general) if general else None,
        },
        inputs,
        upstream=stages[-1],
    )
    stage.key = stage_key(stage, pipeline.spec.base_model)
    return stage


def heldout_examples(stage: Stage, config: EvalConfig) -> tuple[list[EvalExample], str]:
    """The examples an eval stage scores and a sentence saying where they come from."""
    from largeforge.data import load_conversations
    from largeforge.evaluation import eval_examples

    if config.data is not None:
        path = stage.inputs[1]
        conversations = load_conversations(path, config.format)
        source = f"{len(conversations)} rows of {path.name}"
    else:
        split = split_stage_data(stage_source(stage), stage.config["format"], stage.config.get("holdout"))
        conversations = split.heldout
        total = len(split.train) + len(split.heldout)
        source = (
            f"{len(conversations)} held-out of {total} rows of {stage.inputs[0].name} "
            f"(val_size {config.val_size}, seed {config.seed})"
        )
    examples = eval_examples(conversations)
    if len(examples) > config.max_rows:
        source += f"; the first {config.max_rows} scored"
        examples = examples[: config.max_rows]
    return examples, source


def too_few_note(expert: str, rows: int, config: EvalConfig) -> str | None:
    """One line when ``rows`` scored rows are too few to tell base from expert, saying what helps."""
    if rows == 0 or rows >= config.min_rows:
        return None
    fix = "a larger eval file" if config.data else "an eval file (eval.data) or a larger eval.val_size"
    return (
        f"expert {expert}: {rows} eval rows, one row is {100 / rows:.0f} points of every metric: too few "
        f"to tell the expert from the base model; use {fix} ({config.min_rows}+ rows)"
    )


def run_eval(plan: Plan, stage: Stage, resume: bool) -> dict[str, Any]:
    """Score every model of the stage on the expert's held-out examples and the general set;
    write ``eval.json``. Fails with one line when retention is lost and ``eval.strict`` is set."""
    from largeforge.evaluation.retention import RetentionError, retention_line
    from largeforge.evaluation.scoring import bootstrap_of, compare, score_models
    from largeforge.utils.io import save_json

    config = EvalConfig.from_dict(stage.config["eval"])
    examples, source = heldout_examples(stage, config)
    result: dict[str, Any] = {
        "expert": stage.expert,
        "key": stage.key,
        "source": source,
        "rows": len(examples),
        "metrics": config.metrics,
        "confidence": config.confidence,
        "models": {},
        "comparison": None,
        "general": None,
        "notes": [],
    }
    if not examples:
        note = f"expert {stage.expert}: no held-out rows ({source}): eval skipped; set eval.val_size or eval.data"
        logger.warning(note)
        result["notes"].append(note)
    else:
        result["models"], result["notes"] = score_models(
            stage.config["models"], examples, config, f"expert {stage.expert}"
        )
        if "base" in result["models"]:
            result["comparison"] = compare(result["models"]["base"], result["models"]["expert"], bootstrap_of(config))
        few = too_few_note(stage.expert, result["models"]["expert"]["rows"], config)
        if few:
            logger.warning(few)
            result["notes"].append(few)
    general = measure_retention(plan, stage, config)
    failed = None
    if general is not None:
        result["general"] = general
        result["notes"] += general.pop("notes")
        if not general["passed"]:
            failed = retention_line(stage.expert, general)
            result["notes"].append(failed)
            if not config.strict:
                logger.warning(failed)
    save_json(result, stage.output / EVAL_FILE)
    if failed and config.strict:
        raise RetentionError(f"{failed} (eval.strict)")
    return summary(result)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The few figures of an ``eval.json`` shown in the forge's table: rows, then per model its
    perplexity and metrics (``expert.rouge_l`` …)."""
    figures: dict[str, Any] = {"rows": result["rows"]}
    for label, measured in result["models"].items():
        if measured["perplexity"] is not None:
            figures[f"{label}.ppl"] = round(measured["perplexity"], 2)
        for name, value in measured["metrics"].items():
            figures[f"{label}.{name}"] = round(value, 3)
    general = result.get("general")
    if general and general.get("regression") is not None:
        figures[f"general.{general['metric']}.drop"] = round(general["regression"], 3)
        figures["retention"] = "kept" if general["passed"] else "LOST"
    return figures
