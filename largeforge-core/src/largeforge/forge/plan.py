"""Turn a pipeline into stages, each keyed by a hash of its config and inputs, and check
everything a stage needs (data, configs, plugins) before any of them runs."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from largeforge.config import DPOConfig, LoRAConfig, SFTConfig
from largeforge.errors import ConfigError, DataError, LargeForgeError
from largeforge.forge.spec import ExpertSpec, Pipeline, field_tokens

StageKind = Literal["sft", "dpo", "merge", "quantize", "eval", "route"]
MARKER = "forge-stage.json"
PENDING = "forge-stage.pending.json"

#: Which distribution provides the built-in plugin of each kind, for "install X" messages.
PROVIDERS = {
    "trainers": ("largeforge-train", "train"),
    "quantizers": ("largeforge-quant", "quant"),
    "backends": ("largeforge-serve", "serve"),
    "classifiers": ("largeforge-router", "router"),
    "evaluators": ("largeforge-train", "train"),
    "metrics": ("largeforge-core", "all"),
}
BUILTIN = {"trainers": {"sft", "dpo"}, "quantizers": {"gptq", "awq", "gguf"},
           "backends": {"transformers", "vllm", "llamacpp", "auto"}, "classifiers": {"keyword", "neural", "hybrid"},
           "evaluators": {"transformers"}, "metrics": {"exact_match", "contains", "rouge_l"}}


class PlanError(LargeForgeError):
    """A pipeline cannot run as written (missing data, plugin or bad option)."""


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
        return self.stages[-1].kind in ("sft", "dpo") and self.stages[0].config.get("lora") is not None


@dataclass
class Plan:
    pipeline: Pipeline
    experts: list[ExpertPlan]
    #: The routing evaluation (see :mod:`largeforge.forge.route_stage`), run last.
    routing: Stage | None = None

    @property
    def stages(self) -> list[Stage]:
        """Every stage in run order: each expert's model stages and eval, then the routing eval."""
        stages = [s for e in self.experts for s in (*e.stages, *([e.evaluation] if e.evaluation else []))]
        return stages + ([self.routing] if self.routing else [])


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stage_key(stage: Stage, base_model: str) -> str:
    """Hash of everything the stage's output depends on."""
    payload = {
        "kind": stage.kind, "plugin": stage.plugin, "config": stage.config,
        "inputs": [file_digest(p) for p in stage.inputs],
        "upstream": stage.upstream.key if stage.upstream else base_model,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _registry(kind: str) -> Any:
    from largeforge.plugins import registries

    return getattr(registries(), kind)


def require_plugin(kind: str, name: str, where: str, what: str) -> Any:
    """The registered plugin ``name``, or a :class:`PlanError` naming the missing distribution."""
    registry = _registry(kind)
    if name in registry:
        return registry.get(name)
    dist, extra = PROVIDERS[kind]
    if name in BUILTIN[kind]:
        raise PlanError(f'{where}: {what} needs the {dist} distribution, which is not installed: '
                        f'pip install "largeforge-core[{extra}]"')
    known = ", ".join(registry.names()) or "none"
    raise PlanError(f"{where}: {what}: no {registry.kind} plugin named {name!r} is installed "
                    f"(registered: {known})")


def _check_data(pipeline: Pipeline, relative: str, fmt: str, where: str) -> Path:
    from largeforge.data.validator import DataValidator

    path = pipeline.resolve(relative)
    if not path.is_file():
        raise PlanError(f"{where}: data file {relative!r} not found (looked at {path})")
    try:
        report = DataValidator().validate_file(path, fmt)
    except (DataError, ConfigError) as exc:
        raise PlanError(f"{where}: {exc}") from None
    if not report.ok:
        first = "; ".join(str(e) for e in report.errors[:3])
        raise PlanError(f"{where}: {path.name}: {report.invalid} of {report.total} rows are invalid ({first}); "
                        f"run `largeforge data validate {path}`")
    return path


def _config(cls: type, data: dict[str, Any], pipeline: Pipeline, *at: str | int) -> dict[str, Any]:
    """Validate stage options into ``cls``; an error names the line of the offending option."""
    try:
        return cls.from_dict(data).to_dict()  # type: ignore[attr-defined,no-any-return]
    except ConfigError as exc:
        field = re.split(r"[ :=]", str(exc), maxsplit=1)[0]
        raise PlanError(f"{pipeline.where(*at, *field_tokens(field))}: {exc}") from None


def _check_base_model(pipeline: Pipeline) -> None:
    from largeforge.errors import ModelSourceError
    from largeforge.models import check_model

    try:
        check_model(pipeline.spec.base_model)
    except ModelSourceError as exc:
        raise PlanError(f"{pipeline.where('base_model')}: base_model: {exc}") from None


def plan_pipeline(pipeline: Pipeline) -> Plan:
    """Every stage of every expert, validated and keyed. Raises :class:`PlanError` first."""
    from largeforge.forge.eval_stage import eval_settings, holdout_options, plan_eval
    from largeforge.forge.route_stage import plan_routing

    spec = pipeline.spec
    workdir = pipeline.workdir
    _check_base_model(pipeline)
    experts = []
    for i, expert in enumerate(spec.experts):
        at = ("experts", i)
        out = workdir / "experts" / expert.name
        data = _check_data(pipeline, expert.data, expert.format, pipeline.where(*at, "data"))
        trainer = require_plugin("trainers", expert.trainer, pipeline.where(*at, "trainer"), "stage sft")
        lora_opts = expert.lora if expert.lora is not None else spec.defaults.lora
        lora = None if lora_opts is None else _config(LoRAConfig, {**(spec.defaults.lora or {}), **lora_opts},
                                                      pipeline, *at, "lora")
        sft_cfg = _config(SFTConfig, {"output_dir": str(out / "sft"), **spec.defaults.sft, **expert.sft},
                          pipeline, *at, "sft")
        evaluation = eval_settings(pipeline, i, expert)
        sft = Stage(expert.name, "sft", expert.trainer, out / "sft",
                    {"train": sft_cfg, "lora": lora, "format": expert.format,
                     **holdout_options(evaluation, {**spec.defaults.sft, **expert.sft})}, [data])
        stages = [sft]
        if expert.dpo is not None:
            where = pipeline.where(*at, "dpo")
            dpo_data = _check_data(pipeline, expert.dpo.data, expert.dpo.format, pipeline.where(*at, "dpo", "data"))
            require_plugin("trainers", expert.dpo.trainer, where, "stage dpo")
            dpo_cfg = _config(DPOConfig, {"output_dir": str(out / "dpo"), **spec.defaults.dpo,
                                          **expert.dpo.options}, pipeline, *at, "dpo", "options")
            stages.append(Stage(expert.name, "dpo", expert.dpo.trainer, out / "dpo",
                                {"train": dpo_cfg, "lora": lora, "format": expert.dpo.format}, [dpo_data],
                                upstream=stages[-1]))
        if lora is not None and expert.merge:
            if not callable(getattr(trainer, "merge_adapter", None)):
                raise PlanError(f"{pipeline.where(*at, 'merge')}: trainer {expert.trainer!r} cannot merge "
                                "LoRA adapters; set merge: false")
            stages.append(Stage(expert.name, "merge", expert.trainer, out / "merged", {}, upstream=stages[-1]))
        if expert.quantize is not None:
            where = pipeline.where(*at, "quantize")
            if lora is not None and not expert.merge:
                raise PlanError(f"{where}: quantize needs a whole model: set merge: true (or lora: null)")
            require_plugin("quantizers", expert.quantize.method, where, f"stage quantize ({expert.quantize.method})")
            options = {**spec.defaults.quantize, **expert.quantize.options}
            if expert.quantize.type is not None:
                options["type"] = expert.quantize.type
            stages.append(Stage(expert.name, "quantize", expert.quantize.method, out / "quantized",
                                {"bits": expert.quantize.bits, "num_samples": expert.quantize.num_samples,
                                 "options": options}, [data], upstream=stages[-1]))
        for stage in stages:
            stage.key = stage_key(stage, spec.base_model)
        experts.append(ExpertPlan(expert, stages, plan_eval(pipeline, expert, evaluation, stages)))
    plan = Plan(pipeline, experts)
    plan.routing = plan_routing(plan)
    _check_serving(plan)
    return plan


def _check_serving(plan: Plan) -> None:
    spec, pipeline = plan.pipeline.spec, plan.pipeline
    backend = "transformers" if spec.serve.backend == "auto" else spec.serve.backend
    require_plugin("backends", backend, pipeline.where("serve"), "serving")
    require_plugin("classifiers", spec.router.classifier.classifier_type,
                   pipeline.where("router", "classifier"), "the router")
    if spec.serve.backend == "llamacpp":
        _check_llamacpp(plan)
    if spec.serve.mode == "adapters":
        for i, expert in enumerate(plan.experts):
            if not expert.is_adapter:
                raise PlanError(f"{pipeline.where('experts', i)}: serve.mode 'adapters' needs expert "
                                f"{expert.spec.name!r} to keep its LoRA adapter (merge: false, no quantize)")


def _check_llamacpp(plan: Plan) -> None:
    """llama.cpp serves GGUF: each expert's last stage must make one (per-expert), or the team is
    exported at serve time (adapters: the base with ``quant gguf``, each adapter converted)."""
    spec, pipeline = plan.pipeline.spec, plan.pipeline
    require_plugin("quantizers", "gguf", pipeline.where("serve", "backend"), "serving with llamacpp (GGUF export)")
    if spec.serve.mode == "adapters":
        return
    for i, expert in enumerate(plan.experts):
        last = expert.stages[-1]
        if not (last.kind == "quantize" and last.plugin == "gguf"):
            raise PlanError(f"{pipeline.where('experts', i)}: serve.backend 'llamacpp' serves GGUF files: give expert "
                            f"{expert.spec.name!r} `quantize: {{method: gguf, type: q4_k_m}}` (with merge: true)")
