"""Turn a pipeline into stages (:mod:`largeforge.forge.stages`), each keyed by a hash of its config
and inputs, and check everything a stage needs (data, configs, plugins: :mod:`largeforge.forge.checks`)
before any of them runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from largeforge.backends import auto_backend
from largeforge.config import LoRAConfig, SFTConfig, TrainingConfig
from largeforge.data.columns import ColumnMap
from largeforge.data.detect import format_fields, get_format
from largeforge.data.source import DataSource, open_source, source_config
from largeforge.errors import ConfigError, DataError
from largeforge.forge.checks import PlanError, check_options, require_plugin
from largeforge.forge.eval_stage import eval_settings, holdout_options, plan_eval
from largeforge.forge.route_stage import plan_routing
from largeforge.forge.spec import ExpertSpec, Pipeline, field_tokens
from largeforge.forge.stages import ExpertPlan, Plan, Stage, StageKind, stage_key


def _check_data(
    pipeline: Pipeline, relative: str, fmt: str, where: str, columns: dict[str, str] | None = None
) -> DataSource:
    """The stage's data source, every row validated: a file or folder relative to the pipeline, a
    hub id, or a name in the pipeline's ``dataset_info``, its columns mapped by ``columns``."""
    from largeforge.data.validator import DataValidator

    path = pipeline.resolve(relative)
    registry = pipeline.resolve(pipeline.spec.dataset_info) if pipeline.spec.dataset_info else None
    try:
        mapping = ColumnMap.parse(columns, fields=format_fields(), where="columns")
        source = open_source(str(path) if path.exists() else relative, columns=mapping, dataset_info=registry)
        report = DataValidator().validate_file(source, fmt)
    except (DataError, ConfigError) as exc:
        if str(exc).endswith("file not found") and registry is None:
            raise PlanError(f"{where}: data file {relative!r} not found (looked at {path})") from None
        raise PlanError(f"{where}: {exc}") from None
    if not report.ok:
        first = "; ".join(str(e) for e in report.errors[:3])
        raise PlanError(
            f"{where}: {Path(source.location).name}: {report.invalid} of {report.total} rows are invalid "
            f"({first}); run `largeforge data validate {source.location}`"
        )
    return source


def _chat_template(pipeline: Pipeline, expert: ExpertSpec) -> str | None:
    """The expert's chat template text (its own, else the pipeline's): a file beside the pipeline is read."""
    template = expert.chat_template or pipeline.spec.chat_template
    if template is None:
        return None
    path = pipeline.resolve(template) if len(template) < 4096 and "{" not in template else None
    if path is not None and path.is_file():
        return path.read_text(encoding="utf-8")
    if "{" not in template:
        at = ("experts", pipeline.spec.experts.index(expert)) if expert.chat_template else ()
        raise PlanError(
            f"{pipeline.where(*at, 'chat_template')}: chat_template {template!r}: no such file "
            f"(looked at {path}), and not a Jinja template"
        )
    return template


def stage_config_class(trainer: Any, kind: StageKind) -> type[TrainingConfig]:
    """The config class of a training stage: its trainer's own (``SFTConfig`` for ``sft``,
    ``KTOConfig`` for ``kto``, a plugin's); ``SFTConfig`` for an SFT stage whose trainer has none."""
    config_cls = getattr(trainer, "config_class", None)
    if config_cls is None or config_cls is TrainingConfig:
        return SFTConfig if kind == "sft" else TrainingConfig
    return config_cls  # type: ignore[no-any-return]


def _trainer_config(
    trainer: Any, kind: StageKind, data: dict[str, Any], pipeline: Pipeline, *at: str | int
) -> dict[str, Any]:
    """Stage options validated by :func:`stage_config_class`, TRL pass-through fields included
    when the trainer checks them; an error names the line of the offending option."""
    config_cls = stage_config_class(trainer, kind)
    config = check_options(config_cls, data, pipeline, *at)
    check_trl = getattr(trainer, "check_trl_args", None)
    if config.get("trl_args") and callable(check_trl):
        try:
            check_trl(config_cls.from_dict(config))
        except ConfigError as exc:
            field = re.split(r"[ :=]", str(exc), maxsplit=1)[0]
            raise PlanError(f"{pipeline.where(*at, *field_tokens(field))}: {exc}") from None
    return config


def _check_kind(pipeline: Pipeline, source: DataSource, fmt: str, method: str, trainer: Any, where: str) -> None:
    """The stage's data must be the kind its trainer takes (its first row tells)."""
    from largeforge.data.kinds import mismatch
    from largeforge.data.rows import scan

    expected = getattr(trainer, "data_kind", None)
    first = next((row.conversation for row in scan(source, get_format(fmt, source)) if row.conversation), None)
    if expected is not None and first is not None and first.task != expected:
        name = Path(source.location).name
        raise PlanError(mismatch(method, expected, first.task, f"{where}: {name}: row 0", command="method: {}"))


def _check_trainer_data(pipeline: Pipeline, trainer: Any, relative: str, config: dict[str, Any], where: str) -> Path:
    """Data a trainer reads itself (``load_stage_data(path, config)``, e.g. GRPO's prompt rows and
    the columns its rewards need), loaded once at plan time so a bad file fails before any stage."""
    path = pipeline.resolve(relative)
    if not path.is_file():
        raise PlanError(f"{where}: data file {relative!r} not found (looked at {path})")
    try:
        trainer.load_stage_data(path, config)
    except (DataError, ConfigError) as exc:
        raise PlanError(f"{where}: {exc}") from None
    return path


def _plan_alignment(
    pipeline: Pipeline, i: int, expert: ExpertSpec, out: Path, lora: dict[str, Any] | None, upstream: Stage
) -> Stage | None:
    """The expert's post-SFT stage (``align:``, or ``dpo:``), its options checked by the
    method's config class and its data by the method's kind."""
    if expert.alignment is None:
        return None
    align, key = expert.alignment
    at = ("experts", i, key)
    method_at = "trainer" if key == "dpo" else "method"
    trainer = require_plugin("trainers", align.method, pipeline.where(*at, method_at), f"stage {key}")
    defaults = {**pipeline.spec.defaults.align, **(pipeline.spec.defaults.dpo if align.method == "dpo" else {})}
    config = _trainer_config(
        trainer, "align", {"output_dir": str(out / align.method), **defaults, **align.options}, pipeline, *at, "options"
    )
    stage_config: dict[str, Any] = {
        "train": config,
        "lora": lora,
        "format": align.format,
        "chat_template": _chat_template(pipeline, expert),
    }
    if callable(getattr(trainer, "load_stage_data", None)):  # its own data layout (GRPO's prompts)
        data = _check_trainer_data(pipeline, trainer, align.data, config, pipeline.where(*at, "data"))
    else:
        source = _check_data(pipeline, align.data, align.format, pipeline.where(*at, "data"), align.columns)
        _check_kind(pipeline, source, align.format, align.method, trainer, pipeline.where(*at, "data"))
        data, stage_config["data"] = source.local_path(), source_config(source)
    return Stage(expert.name, "align", align.method, out / align.method, stage_config, [data], upstream=upstream)


def _check_base_model(pipeline: Pipeline) -> None:
    from largeforge.errors import ModelSourceError
    from largeforge.models import check_model

    try:
        check_model(pipeline.spec.base_model)
    except ModelSourceError as exc:
        raise PlanError(f"{pipeline.where('base_model')}: base_model: {exc}") from None


def plan_pipeline(pipeline: Pipeline) -> Plan:
    """Every stage of every expert, validated and keyed. Raises :class:`PlanError` first."""
    spec = pipeline.spec
    workdir = pipeline.workdir
    _check_base_model(pipeline)
    experts = []
    for i, expert in enumerate(spec.experts):
        at = ("experts", i)
        out = workdir / "experts" / expert.name
        source = _check_data(pipeline, expert.data, expert.format, pipeline.where(*at, "data"), expert.columns)
        data = source.local_path()
        trainer = require_plugin("trainers", expert.trainer, pipeline.where(*at, "trainer"), "stage sft")
        _check_kind(pipeline, source, expert.format, expert.trainer, trainer, pipeline.where(*at, "data"))
        lora_opts = expert.lora if expert.lora is not None else spec.defaults.lora
        lora = (
            None
            if lora_opts is None
            else check_options(LoRAConfig, {**(spec.defaults.lora or {}), **lora_opts}, pipeline, *at, "lora")
        )
        sft_cfg = _trainer_config(
            trainer, "sft", {"output_dir": str(out / "sft"), **spec.defaults.sft, **expert.sft}, pipeline, *at, "sft"
        )
        evaluation = eval_settings(pipeline, i, expert)
        sft = Stage(
            expert.name,
            "sft",
            expert.trainer,
            out / "sft",
            {
                "train": sft_cfg,
                "lora": lora,
                "format": expert.format,
                "data": source_config(source),
                "chat_template": _chat_template(pipeline, expert),
                **holdout_options(evaluation, {**spec.defaults.sft, **expert.sft}),
            },
            [data],
        )
        stages = [sft]
        alignment = _plan_alignment(pipeline, i, expert, out, lora, sft)
        if alignment is not None:
            stages.append(alignment)
        if lora is not None and expert.merge:
            if not callable(getattr(trainer, "merge_adapter", None)):
                raise PlanError(
                    f"{pipeline.where(*at, 'merge')}: trainer {expert.trainer!r} cannot merge "
                    "LoRA adapters; set merge: false"
                )
            stages.append(Stage(expert.name, "merge", expert.trainer, out / "merged", {}, upstream=stages[-1]))
        if expert.quantize is not None:
            where = pipeline.where(*at, "quantize")
            if lora is not None and not expert.merge:
                raise PlanError(f"{where}: quantize needs a whole model: set merge: true (or lora: null)")
            require_plugin("quantizers", expert.quantize.method, where, f"stage quantize ({expert.quantize.method})")
            options = {**spec.defaults.quantize, **expert.quantize.options}
            if expert.quantize.type is not None:
                options["type"] = expert.quantize.type
            stages.append(
                Stage(
                    expert.name,
                    "quantize",
                    expert.quantize.method,
                    out / "quantized",
                    {
                        "bits": expert.quantize.bits,
                        "num_samples": expert.quantize.num_samples,
                        "options": options,
                        "data": source_config(source),
                    },
                    [data],
                    upstream=stages[-1],
                )
            )
        for stage in stages:
            stage.key = stage_key(stage, spec.base_model)
        experts.append(ExpertPlan(expert, stages, plan_eval(pipeline, expert, evaluation, stages)))
    plan = Plan(pipeline, experts)
    plan.routing = plan_routing(plan)
    _check_serving(plan)
    return plan


def _check_serving(plan: Plan) -> None:
    spec, pipeline = plan.pipeline.spec, plan.pipeline
    backend = spec.serve.backend
    require_plugin("backends", "transformers" if backend == "auto" else backend, pipeline.where("serve"), "serving")
    require_plugin(
        "classifiers", spec.router.classifier.classifier_type, pipeline.where("router", "classifier"), "the router"
    )
    adapters = spec.serve.mode == "adapters"
    plan.serve_backend = auto_backend(spec.base_model, adapters=adapters) if backend == "auto" else backend
    for i, expert in enumerate(plan.experts):
        if adapters and not expert.is_adapter:
            raise PlanError(
                f"{pipeline.where('experts', i)}: serve.mode 'adapters' needs expert "
                f"{expert.spec.name!r} to keep its LoRA adapter (merge: false, no quantize)"
            )
        if backend == "llamacpp" and not adapters and expert.is_adapter:
            raise PlanError(
                f"{pipeline.where('experts', i)}: serve.backend 'llamacpp' serves one model per expert: give "
                f"expert {expert.spec.name!r} `merge: true` (or serve.mode 'adapters')"
            )
    if plan.serve_backend == "llamacpp":  # the team is converted to GGUF when it starts
        require_plugin("quantizers", "gguf", pipeline.where("serve", "backend"), "serving with llamacpp (GGUF)")
