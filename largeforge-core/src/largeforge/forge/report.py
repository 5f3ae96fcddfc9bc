"""The figures of a forge run, gathered from what its stages left on disk.

:func:`collect` reads each stage's completion record (time, metrics), the trainers'
``train_log.jsonl`` (loss curves), the eval stages' ``eval.json``, the quantizer's report and the
routing stage's ``routing.json``; :func:`write_report` renders them into ``report.html`` and
``report.json`` in the pipeline's workdir. Nothing is recomputed, so ``largeforge forge report``
rebuilds the same report without running anything.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from largeforge.forge.eval_stage import EVAL_FILE
from largeforge.forge.plan import Plan, Stage
from largeforge.forge.route_stage import ROUTING_FILE

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
TRAIN_LOG = "train_log.jsonl"
QUANT_REPORT = "quantization_report.json"


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
    return {name: [[step, value] for step, value in sorted(points.items())] for name, points in curves.items()
            if points}


def _stage_row(stage: Stage) -> dict[str, Any]:
    record = stage.record()
    return {"expert": stage.expert, "stage": stage.kind, "plugin": stage.plugin, "key": stage.key,
            "status": "done" if record else "not run", "seconds": record.get("seconds") if record else None,
            "metrics": record.get("metrics", {}) if record else {}}


def _quantization(stage: Stage) -> dict[str, Any] | None:
    report = _read_json(stage.artifact / QUANT_REPORT) if stage.done else None
    if not isinstance(report, dict):
        return None
    keys = ("method", "scheme", "size_before", "size_after", "linear_ratio_vs_16bit", "total_ratio",
            "perplexity_before", "perplexity_after", "perplexity_ratio", "heldout_samples")
    return {k: report[k] for k in keys if k in report}


def collect(plan: Plan) -> dict[str, Any]:
    """Every figure of the run as plain JSON data (what ``--json`` prints and the page shows)."""
    spec = plan.pipeline.spec
    experts: dict[str, Any] = {}
    notes: list[str] = []
    for expert in plan.experts:
        entry: dict[str, Any] = {"description": expert.spec.description, "training": {}, "eval": None,
                                 "quantization": None}
        for stage in expert.stages:
            if stage.kind in ("sft", "dpo") and stage.done:
                entry["training"][stage.kind] = loss_curves(stage.output)
            elif stage.kind == "quantize":
                entry["quantization"] = _quantization(stage)
        if expert.evaluation is not None and expert.evaluation.done:
            entry["eval"] = _read_json(expert.evaluation.output / EVAL_FILE)
            notes += (entry["eval"] or {}).get("notes", [])
        experts[expert.spec.name] = entry
    routing = _read_json(plan.routing.output / ROUTING_FILE) if plan.routing and plan.routing.done else None
    if routing:
        notes += routing.get("notes", [])
    return {
        "pipeline": spec.name, "base_model": spec.base_model, "workdir": str(plan.pipeline.workdir),
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stages": [_stage_row(s) for s in plan.stages], "experts": experts, "routing": routing, "notes": notes,
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
