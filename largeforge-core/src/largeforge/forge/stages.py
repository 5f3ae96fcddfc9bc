"""The parts of a forge plan: stages, each expert's stages and the whole plan, and the key that
tells whether a stage's output is still current (a hash of its config and inputs)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from largeforge.data.source import DataSource, source_from_config
from largeforge.forge.spec import ExpertSpec, Pipeline

StageKind = Literal["sft", "align", "merge", "quantize", "eval", "route"]
#: Stages that train (an SFT or alignment trainer's output: an adapter under LoRA).
TRAINING_KINDS = ("sft", "align")
MARKER = "forge-stage.json"
PENDING = "forge-stage.pending.json"


@dataclass
class Stage:
    """One unit of work whose output is skipped when its key has not changed."""

    expert: str
    kind: StageKind
    plugin: str
    output: Path
    config: dict[str, Any]
    inputs: list[Path] = field(default_factory=list)
    upstream: Stage | None = None
    key: str = ""

    @property
    def artifact(self) -> Path:
        """The model this stage produced (quantizers write into ``model/``)."""
        return self.output / "model" if self.kind == "quantize" else self.output

    @property
    def marker(self) -> Path:
        return self.output / MARKER

    def record(self) -> dict[str, Any] | None:
        """The completion record, when this stage finished with the same key."""
        try:
            data = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None
        return data if data.get("key") == self.key else None

    @property
    def done(self) -> bool:
        return self.record() is not None


@dataclass
class ExpertPlan:
    spec: ExpertSpec
    stages: list[Stage]
    #: The eval stage (see :mod:`largeforge.forge.eval_stage`), run after ``stages``.
    evaluation: Stage | None = None

    @property
    def artifact(self) -> Path:
        """What gets served: the last stage's model."""
        return self.stages[-1].artifact

    @property
    def is_adapter(self) -> bool:
        return self.stages[-1].kind in TRAINING_KINDS and self.stages[0].config.get("lora") is not None


@dataclass
class Plan:
    pipeline: Pipeline
    experts: list[ExpertPlan]
    #: The routing evaluation (see :mod:`largeforge.forge.route_stage`), run last.
    routing: Stage | None = None
    #: The backend that serves the team: ``serve.backend`` with ``auto`` resolved for the base
    #: model as ``serve inference`` resolves it (per-expert mode: each server resolves its own).
    serve_backend: str = "auto"

    @property
    def stages(self) -> list[Stage]:
        """Every stage in run order: each expert's model stages and eval, then the routing eval."""
        stages = [s for e in self.experts for s in (*e.stages, *([e.evaluation] if e.evaluation else []))]
        return stages + ([self.routing] if self.routing else [])


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes; of a folder (a ``datasets`` folder), of its files' names and bytes."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def stage_source(stage: Stage) -> DataSource:
    """The data a stage reads: its location, layout and column mapping as the pipeline gave them."""
    return source_from_config(stage.config["data"])


def stage_key(stage: Stage, base_model: str) -> str:
    """Hash of everything the stage's output depends on."""
    payload = {
        "kind": stage.kind,
        "plugin": stage.plugin,
        "config": stage.config,
        "inputs": [file_digest(p) for p in stage.inputs],
        "upstream": stage.upstream.key if stage.upstream else base_model,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
