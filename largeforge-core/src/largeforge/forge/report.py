"""The figures of a forge run, gathered from what its stages left on disk.

:func:`collect` reads each stage's completion record (time, metrics), the trainers'
``train_log.jsonl`` (loss curves), the eval stages' ``eval.json`` (figures with their intervals,
retention on the general set), the weight files before and
after quantization and the routing stage's ``routing.json``; :func:`write_report` renders them into ``report.html`` and
``report.json`` in the pipeline's workdir. Nothing is recomputed, so ``largeforge forge report``
rebuilds the same report without running anything.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from largeforge.forge.eval_stage import EVAL_FILE
from largeforge.forge.route_stage import ROUTING_FILE
from largeforge.forge.stages import TRAINING_KINDS, Plan, Stage

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
TRAIN_LOG = "train_log.jsonl"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def loss_curves(output: Path) -> dict[str, list[list[float]]]:
    """``{"loss": [[step, value], …], "eval_loss": […]}`` from a training stage's JSONL log (the
    last value logged at a step wins, so a resumed run draws one curve)."""
    curves: dict[str, dict[int, float]] = {"loss": {}, "eval_loss": {}}
    try:
        lines = (output / TRAIN_LOG).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        for name, points in curves.items():
            value = event.get(name)
            if isinstance(value, (int, float)) and isinstance(event.get("step"), int):
                points[event["step"]] = float(value)
    return {
        name: [[step, value] for step, value in sorted(points.items())] for name, points in curves.items() if points
    }


def _stage_row(stage: Stage) -> dict[str, Any]:
    record = stage.record()
    return {
        "expert": stage.expert,
        "stage": stage.kind,
        "plugin": stage.plugin,
        "key": stage.key,
        "status": "done" if record else "not run",
        "seconds": record.get("seconds") if record else None,
        "metrics": record.get("metrics", {}) if record else {},
    }


def _weights_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.safetensors"))


def _quantization(stage: Stage, evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """Size of the weights before and after a finished quantize stage, and the held-out
    perplexity of the expert before and after it (from the eval stage, when it ran)."""
    if not stage.done or stage.upstream is None:
        return None
    before, after = _weights_bytes(stage.upstream.artifact), _weights_bytes(stage.artifact)
    models = (evaluation or {}).get("models", {})
    ppl_before = models.get("expert", {}).get("perplexity")
    ppl_after = models.get("quantized", {}).get("perplexity")
    return {
        "method": stage.plugin,
        "bits": stage.config["bits"],
        "bytes_before": before,
        "bytes_after": after,
        "size_ratio": round(after / before, 4) if before else None,
        "perplexity_before": ppl_before,
        "perplexity_after": ppl_after,
        "perplexity_ratio": round(ppl_after / ppl_before, 4) if ppl_before and ppl_after else None,
    }


def _without_rows(models: dict[str, Any]) -> dict[str, Any]:
    return {label: {k: v for k, v in m.items() if k != "per_row"} for label, m in models.items()}


def _evaluation(stage: Stage) -> dict[str, Any] | None:
    """An eval stage's ``eval.json`` without its per-row figures: when the stage is done, or when
    it wrote the file for its current key and then failed (the strict retention gate)."""
    result = _read_json(stage.output / EVAL_FILE)
    if not isinstance(result, dict) or not (stage.done or result.get("key") == stage.key):
        return None
    result["models"] = _without_rows(result.get("models", {}))
    if result.get("general"):
        result["general"]["models"] = _without_rows(result["general"].get("models", {}))
    return result


def collect(plan: Plan) -> dict[str, Any]:
    """Every figure of the run as plain JSON data (what ``--json`` prints and the page shows)."""
    spec = plan.pipeline.spec
    experts: dict[str, Any] = {}
    notes: list[str] = []
    for expert in plan.experts:
        entry: dict[str, Any] = {
            "description": expert.spec.description,
            "training": {},
            "eval": None,
            "quantization": None,
        }
        if expert.evaluation is not None:
            entry["eval"] = _evaluation(expert.evaluation)
            notes += (entry["eval"] or {}).get("notes", [])
        for stage in expert.stages:
            if stage.kind in TRAINING_KINDS and stage.done:  # keyed sft, dpo, kto, ...
                entry["training"]["sft" if stage.kind == "sft" else stage.plugin] = loss_curves(stage.output)
            elif stage.kind == "quantize":
                entry["quantization"] = _quantization(stage, entry["eval"])
        experts[expert.spec.name] = entry
    routing = _read_json(plan.routing.output / ROUTING_FILE) if plan.routing and plan.routing.done else None
    if routing:
        notes += routing.get("notes", [])
    return {
        "pipeline": spec.name,
        "base_model": spec.base_model,
        "workdir": str(plan.pipeline.workdir),
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stages": [_stage_row(s) for s in plan.stages],
        "experts": experts,
        "routing": routing,
        "notes": notes,
    }


def report_path(plan: Plan) -> Path:
    """Where the run's HTML report is written: ``<workdir>/report.html``."""
    return plan.pipeline.workdir / REPORT_HTML


def write_report(plan: Plan) -> tuple[Path, dict[str, Any]]:
    """Write ``report.html`` and ``report.json`` into the workdir; return the HTML path and figures."""
    from largeforge.forge.report_html import render
    from largeforge.utils.io import atomic_write

    figures = collect(plan)
    path = report_path(plan)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path.with_name(REPORT_JSON), json.dumps(figures, indent=2, ensure_ascii=False))
    atomic_write(path, render(figures))
    return path, figures
