"""How a train command resolves its settings: defaults, then the global ``--config`` file's ``train``
section, then the command's ``--config``, then TRL fields given as extra flags, then our flags; the
LoRA section; the accumulation fitted to the data; ``--print-config``.

Everything here is checked before the model loads, each failure one line naming the field.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Optional

import typer
import yaml

from largeforge.cli.state import get_state
from largeforge.config import LoRAConfig, TrainingConfig, load_config_file
from largeforge.errors import ConfigError
from largeforge.utils.logging import get_logger
from largeforge_train.run_length import RunLength, fit_accumulation
from largeforge_train.trl_args import parse_flags, suggest, trl_fields

# Keys of a --config file that are not fields of the method's config.
RUN_KEYS = (
    "model",
    "dataset",
    "eval_dataset",
    "format",
    "columns",
    "dataset_info",
    "lora",
    "chat_template",
    "eos_token",
    "ref_model",
)


def config_class(trainer_cls: Any) -> Any:
    """The method's config class: the trainer's ``config_class``, else its ``config`` annotation."""
    if getattr(trainer_cls, "config_class", TrainingConfig) is not TrainingConfig:
        return trainer_cls.config_class
    hint = typing.get_type_hints(trainer_cls).get("config", TrainingConfig)
    return hint if isinstance(hint, type) else TrainingConfig


def trl_flags(ctx: Any, trainer_cls: Any) -> dict[str, Any]:
    """The extra flags of a train command (TRL config fields, or our fields without their own flag,
    e.g. ``--lr_scheduler_type``); a one-line error with the closest option for an unknown one."""
    flags = parse_flags(list(ctx.args))
    config_cls = config_class(trainer_cls)
    own = (set(config_cls.__struct_fields__) - {"trl_args"}) | set(config_cls.trl_aliases)
    trl = set(trl_fields(trainer_cls.trl_config_class)) if flags and trainer_cls.trl_config_class else set()
    for name in flags:
        if name not in own and name not in trl:
            options = [o for p in ctx.command.params for o in p.opts if o.startswith("--")]
            hint = suggest(f"--{name}", [*options, *(f"--{f}" for f in own | trl)])
            fields_of = trainer_cls.trl_config_class or config_cls.__name__
            raise ConfigError(
                f"--{name}: no such option of `largeforge train {ctx.info_name}`{hint}; options are "
                f"those of --help and the fields of {fields_of}"
            )
    return flags


def print_config(trainer: Any, **run: Any) -> None:
    """The resolved settings of ``trainer`` as YAML: run keys, config fields with the TRL pass-through
    fields (converted), and the LoRA section (``null`` for full fine-tuning)."""
    data = {k: str(v) if isinstance(v, Path) else v for k, v in run.items() if v is not None}
    fields = trainer.config.to_dict()
    fields.pop("trl_args", None)
    data.update(fields)
    data.update(trainer.trl_args)
    data["lora"] = trainer.lora_config.to_dict() if trainer.lora_config is not None else None
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def split_config(path: Optional[Path], ctx: Any = None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(run keys, trainer-config fields, source) of the global ``--config`` file's ``train`` section
    (when ``ctx`` is given) under the command's own ``--config`` file. A ``dataset_info`` path is
    relative to the file that names it."""
    state = get_state(ctx) if ctx is not None else None
    data: dict[str, Any] = dict(state.section("train")) if state is not None else {}
    sources = [str(state.config_path)] if data and state is not None else []
    if data.get("dataset_info") and state is not None and state.config_path is not None:
        data["dataset_info"] = str(state.config_path.parent / str(data["dataset_info"]))
    if path is not None:
        values = load_config_file(path)
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        if values.get("dataset_info"):
            values["dataset_info"] = str(Path(path).parent / str(values["dataset_info"]))
        data.update(values)
        sources.append(str(path))
    run = {k: data.pop(k) for k in RUN_KEYS if k in data}
    return run, data, sources[-1] if sources else None


def build_config(
    config_cls: Any,
    fields: dict[str, Any],
    source: str | None,
    output: Optional[Path],
    flags: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Any:
    """Defaults, then the file's ``fields``, then ``extra`` flags (TRL fields), then our ``flags``."""
    if output is not None:
        fields["output_dir"] = str(output)
    if "output_dir" not in fields:
        raise ConfigError("output_dir is required: pass --output or set output_dir in --config")
    config = config_cls.from_dict(fields, source=source)
    if extra:
        config = config.merged(**extra)
    return config.merged(**flags)


def build_lora(run: dict[str, Any], source: str | None, flags: dict[str, Any], r: Optional[int]) -> Any:
    """The LoRAConfig from the file's ``lora`` section and flags; ``None`` for full fine-tuning."""
    section = run.get("lora", {})
    if r == 0 or (section is None and r is None):
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: lora must be a mapping of LoRA settings (or null for full fine-tuning)")
    try:
        lora = LoRAConfig.from_dict(section, source=source)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("`", "`lora.", 1) if "`" in str(exc) else f"lora: {exc}") from None
    targets = flags.pop("target_modules", None)
    if targets is not None:
        flags["target_modules"] = (
            targets if targets in ("all-linear", "auto") else [t.strip() for t in targets.split(",") if t.strip()]
        )
    return lora.merged(r=r, **flags)


def fit_to_data(config: Any, rows: int, flag: int | None, given: dict[str, Any]) -> Any:
    """``config`` with the gradient accumulation fitted to ``rows`` examples unless the user set it
    (the ``--gradient-accumulation`` ``flag``, or ``gradient_accumulation_steps`` among the fields
    ``given`` by file or TRL flag): the rule of :mod:`largeforge_train.run_length`, in one line."""
    explicit = flag is not None or "gradient_accumulation_steps" in given
    accumulation = config.gradient_accumulation_steps
    fitted = accumulation if explicit else fit_accumulation(rows, config)
    if fitted == accumulation:
        return config
    config = config.merged(gradient_accumulation_steps=fitted)
    get_logger("largeforge.train").info(
        "gradient_accumulation_steps %d (not %d): %d rows make %d optimizer steps with it; set it to override",
        fitted,
        accumulation,
        rows,
        RunLength.of(rows, config).optimizer_steps,
    )
    return config
