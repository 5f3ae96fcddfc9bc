"""``largeforge train sft|dpo|merge`` and ``largeforge data generate sft|preference`` (spec 7.2).

Settings come from defaults, then ``--config`` (YAML/TOML/JSON), then flags. Everything a user
can get wrong — config values, data rows, the rendered examples — is checked before the model
loads, and reported as one line naming the field or row.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from largeforge.cli.data_options import COLUMNS, DATASET_INFO

# Keys of a --config file that are not fields of SFTConfig / DPOConfig.
_RUN_KEYS = (
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
LORA_R_HELP = "LoRA rank; 0 for full fine-tuning."
TARGETS_HELP = "Comma-separated module names, 'all-linear', or 'auto' (by architecture)."
PRINT_CONFIG_HELP = "Print the resolved settings (YAML, --config can read it back) and exit before the model loads."
#: Flags whose parameter is not named after the config field they set.
FLAG_FIELDS = {
    "num_epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "lora_r": "r",
    "lora_targets": "target_modules",
}


class TrainCommand(typer.core.TyperCommand):
    """A ``largeforge train <method>`` command: extra flags are the trainer's TRL config fields
    (``--optim adamw_torch``, as with TrlParser), and ``--help`` shows the config's defaults.

    Use it as ``@app.command(cls=TrainCommand)`` with a ``ctx: typer.Context`` parameter, and pass
    ``ctx`` to :func:`trl_flags`; the method's config class is the trainer's ``config`` annotation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {
            **(kwargs.get("context_settings") or {}),
            "allow_extra_args": True,
            "ignore_unknown_options": True,
        }
        super().__init__(*args, **kwargs)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        trainer_cls = _trainer_class(ctx.info_name)
        if trainer_cls is not None:
            _show_defaults(self.params, _config_class(trainer_cls))
            if trainer_cls.trl_config_class and not self.epilog:
                self.epilog = (
                    f"Any field of {trainer_cls.trl_config_class} is a flag too, as with TRL's parser "
                    "(--optim adamw_torch --lr_scheduler_type cosine), or a key of --config; "
                    "--print-config shows the result."
                )
        super().format_help(ctx, formatter)


def _trainer_class(method: str | None) -> Any:
    from largeforge.plugins import registries

    try:
        return registries().trainers.get(method or "")
    except Exception:
        return None


def _config_class(trainer_cls: Any) -> Any:
    """The method's config class: the trainer's ``config`` annotation."""
    import typing

    from largeforge.config import TrainingConfig

    if getattr(trainer_cls, "config_class", TrainingConfig) is not TrainingConfig:
        return trainer_cls.config_class
    hint = typing.get_type_hints(trainer_cls).get("config", TrainingConfig)
    return hint if isinstance(hint, type) else TrainingConfig


def _show_defaults(params: list[Any], config_cls: Any) -> None:
    """Show the default of every flag that sets a config or LoRA field (their typer default is None)."""
    import msgspec

    from largeforge.config import LoRAConfig

    defaults = {
        f.name: f.default
        if f.default is not msgspec.NODEFAULT
        else (f.default_factory() if f.default_factory is not msgspec.NODEFAULT else None)
        for f in msgspec.structs.fields(config_cls)
    }
    lora = {
        f.name: f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
        for f in msgspec.structs.fields(LoRAConfig)
    }
    for param in params:
        if param.default is not None or isinstance(param.show_default, str):
            continue
        name = FLAG_FIELDS.get(param.name, param.name)
        name = config_cls.trl_aliases.get(name, name)
        if name in defaults and defaults[name] is not None:
            value = defaults[name]
        elif param.name.startswith("lora_") and name in lora:
            value = lora[name]
        else:
            continue
        param.show_default = (
            ",".join(value)
            if isinstance(value, list)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )


def trl_flags(ctx: Any, trainer_cls: Any) -> dict[str, Any]:
    """The extra flags of a train command (TRL config fields, or our fields without their own flag,
    e.g. ``--lr_scheduler_type``); a one-line error with the closest option for an unknown one."""
    from largeforge.errors import ConfigError
    from largeforge_train.trl_args import parse_flags, suggest, trl_fields

    flags = parse_flags(list(ctx.args))
    config_cls = _config_class(trainer_cls)
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
    import yaml

    data = {k: str(v) if isinstance(v, Path) else v for k, v in run.items() if v is not None}
    fields = trainer.config.to_dict()
    fields.pop("trl_args", None)
    data.update(fields)
    data.update(trainer.trl_args)
    data["lora"] = trainer.lora_config.to_dict() if trainer.lora_config is not None else None
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def _split_config(path: Optional[Path], ctx: Any = None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(run keys, trainer-config fields, source) of the global ``--config`` file's ``train`` section
    (when ``ctx`` is given) under the command's own ``--config`` file. A ``dataset_info`` path is
    relative to the file that names it."""
    from largeforge.cli.state import get_state
    from largeforge.config import load_config_file
    from largeforge.errors import ConfigError

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
    run = {k: data.pop(k) for k in _RUN_KEYS if k in data}
    return run, data, sources[-1] if sources else None


def _build_config(
    config_cls: Any,
    fields: dict[str, Any],
    source: str | None,
    output: Optional[Path],
    flags: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Any:
    """Defaults, then the file's ``fields``, then ``extra`` flags (TRL fields), then our ``flags``."""
    from largeforge.errors import ConfigError

    if output is not None:
        fields["output_dir"] = str(output)
    if "output_dir" not in fields:
        raise ConfigError("output_dir is required: pass --output or set output_dir in --config")
    config = config_cls.from_dict(fields, source=source)
    if extra:
        config = config.merged(**extra)
    return config.merged(**flags)


def _build_lora(run: dict[str, Any], source: str | None, flags: dict[str, Any], r: Optional[int]) -> Any:
    """The LoRAConfig from the file's ``lora`` section and flags; ``None`` for full fine-tuning."""
    from largeforge.config import LoRAConfig
    from largeforge.errors import ConfigError

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
    from largeforge.utils.logging import get_logger
    from largeforge_train.run_length import RunLength, fit_accumulation

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


def _load_data(path: Any, fmt: str, columns: Any = None, dataset_info: Any = None) -> Any:
    """The dataset at ``path`` (any location the data readers open, or a name in ``dataset_info``),
    its columns mapped by ``columns`` (``name=column`` text or a mapping)."""
    from largeforge.cli.data_options import source_of
    from largeforge.data import DatasetFactory
    from largeforge.errors import ConfigError

    if path is None:
        raise ConfigError("dataset is required: pass --dataset or set dataset in --config")
    return DatasetFactory.load(source_of(str(path), columns, dataset_info), fmt)


def _summary(method: str, result: Any, elapsed: float, lora: bool) -> None:
    from largeforge.cli.output import console, print_success

    metrics = result.metrics
    print_success(f"{method.upper()} finished in {elapsed:.0f}s")
    console.print(f"  final loss      {result.loss:.4f}")
    console.print(f"  steps           {result.global_step}")
    for key in ("rewards/margins", "rewards/accuracies", "reward_first", "reward_last", "eval_loss", "eval_perplexity"):
        if key in metrics:
            console.print(f"  {key:<15} {metrics[key]:.4f}")
    console.print(f"  {'adapter' if lora else 'model':<15} {result.output_dir}")
    if lora:
        console.print(
            f"  merge with      largeforge train merge --adapter {result.output_dir} "
            f"--output {result.output_dir}-merged"
        )


def _run(method: str, trainer: Any, train: Any, evaluation: Any) -> None:
    start = time.perf_counter()
    result = trainer.train(train, evaluation)
    _leave_process_group()
    if trainer.trainer is not None and not trainer.trainer.is_world_process_zero():
        return  # under accelerate launch, one summary from the main process
    _summary(method, result, time.perf_counter() - start, trainer.lora_config is not None)


def _leave_process_group() -> None:
    """Under ``accelerate launch`` with several processes, shut the process group down before the
    interpreter exits: left to exit, gloo's threads were destroyed while still running
    ("terminate called without an active exception", the rank killed by SIGABRT after finishing)."""
    import sys

    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build_train() -> typer.Typer:
    """The ``train`` command group."""
    from largeforge_train.cli_grpo import add_grpo_command
    from largeforge_train.cli_preference import add_preference_commands

    app = typer.Typer(
        help="Fine-tune models: SFT, DPO, KTO, ORPO, SimPO, CPO and GRPO with LoRA, and merge adapters.",
        no_args_is_help=True,
    )

    @app.command(cls=TrainCommand)
    def sft(
        ctx: typer.Context,
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Base model: alias, directory or hub id."),
        dataset: Optional[Path] = typer.Option(None, "--dataset", "-d", help="Training data (any supported format)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output directory."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/TOML/JSON settings; flags override."),
        format: Optional[str] = typer.Option(None, "--format", "-f", help="Data format (default: auto)."),
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        eval_dataset: Optional[Path] = typer.Option(None, "--eval-dataset", help="Evaluation data."),
        num_epochs: Optional[int] = typer.Option(None, "--num-epochs", help="Epochs."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Per-device batch size."),
        grad_accum: Optional[int] = typer.Option(None, "--gradient-accumulation", help="Gradient accumulation."),
        learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Learning rate."),
        warmup_ratio: Optional[float] = typer.Option(None, "--warmup-ratio", help="Warm-up share of steps."),
        max_length: Optional[int] = typer.Option(None, "--max-length", help="Max sequence length (tokens)."),
        packing: Optional[bool] = typer.Option(
            None, "--packing/--no-packing", help="Pack short examples: no padding, about a batch of examples a step."
        ),
        train_on_prompt: Optional[bool] = typer.Option(
            None, "--train-on-prompt/--completions-only", help="Loss on whole sequences (default: replies only)."
        ),
        lora_r: Optional[int] = typer.Option(None, "--lora-r", help=LORA_R_HELP),
        lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help="LoRA alpha."),
        lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout", help="LoRA dropout."),
        lora_targets: Optional[str] = typer.Option(None, "--lora-target-modules", help=TARGETS_HELP),
        gradient_checkpointing: Optional[bool] = typer.Option(
            None, "--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory."
        ),
        logging_steps: Optional[int] = typer.Option(None, "--logging-steps", help="Log every N steps."),
        save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Checkpoint every N steps."),
        save_total_limit: Optional[int] = typer.Option(None, "--save-total-limit", help="Checkpoints kept."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
        chat_template: Optional[str] = typer.Option(None, "--chat-template", help="Jinja file or string."),
        eos_token: Optional[str] = typer.Option(None, "--eos-token", help="End-of-turn token to train."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest complete checkpoint."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in the output directory."),
        eval_steps: Optional[int] = typer.Option(None, "--eval-steps", help="Evaluate every N steps."),
        patience: Optional[int] = typer.Option(
            None, "--early-stopping-patience", min=1, help="Stop after N evaluations without a better eval_loss."
        ),
        save_best: bool = typer.Option(False, "--save-best", help="Keep the best model (eval_loss) in OUTPUT/best."),
        show_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Supervised fine-tuning (loss on the replies; LoRA unless --lora-r 0)."""
        from largeforge.config import SFTConfig
        from largeforge_train.sft import SFTTrainer

        run, fields, source = _split_config(config, ctx)
        cfg = _build_config(
            SFTConfig,
            fields,
            source,
            output,
            dict(
                num_train_epochs=num_epochs,
                max_steps=max_steps,
                per_device_train_batch_size=batch_size,
                gradient_accumulation_steps=grad_accum,
                learning_rate=learning_rate,
                warmup_ratio=warmup_ratio,
                max_seq_length=max_length,
                packing=packing,
                train_on_prompt=train_on_prompt,
                gradient_checkpointing=gradient_checkpointing,
                logging_steps=logging_steps,
                save_steps=save_steps,
                save_total_limit=save_total_limit,
                seed=seed,
                eval_steps=eval_steps,
            ),
            trl_flags(ctx, SFTTrainer),
        )
        lora = _build_lora(
            run, source, dict(lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=lora_targets), lora_r
        )
        fmt = format or run.get("format", "auto")
        mapping, registry = columns or run.get("columns"), dataset_info or run.get("dataset_info")
        train = _load_data(dataset or run.get("dataset"), fmt, mapping, registry)
        cfg = fit_to_data(cfg, len(train), grad_accum, {**fields, **trl_flags(ctx, SFTTrainer)})
        evaluation = (
            _load_data(eval_dataset or run.get("eval_dataset"), fmt, mapping, registry)
            if (eval_dataset or run.get("eval_dataset"))
            else None
        )
        trainer = SFTTrainer(
            _model(model, run),
            cfg,
            lora,
            chat_template=chat_template or run.get("chat_template"),
            eos_token=eos_token or run.get("eos_token"),
            resume=resume,
            early_stopping_patience=patience,
            save_best=save_best,
            overwrite=overwrite,
        )
        if show_config:
            print_config(
                trainer,
                model=trainer.model_name,
                dataset=dataset or run.get("dataset"),
                eval_dataset=eval_dataset or run.get("eval_dataset"),
                format=fmt,
                columns=mapping,
                dataset_info=registry,
                chat_template=chat_template or run.get("chat_template"),
                eos_token=eos_token or run.get("eos_token"),
            )
            return
        _run("sft", trainer, train, evaluation)

    @app.command(cls=TrainCommand)
    def dpo(
        ctx: typer.Context,
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (usually an SFT output)."),
        dataset: Optional[Path] = typer.Option(None, "--dataset", "-d", help="Preference data."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output directory."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/TOML/JSON settings; flags override."),
        format: Optional[str] = typer.Option(None, "--format", "-f", help="Data format (default: auto)."),
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        eval_dataset: Optional[Path] = typer.Option(None, "--eval-dataset", help="Evaluation preference data."),
        ref_model: Optional[str] = typer.Option(None, "--ref-model", help="Separate reference model."),
        beta: Optional[float] = typer.Option(None, "--beta", help="DPO beta (0, 1]."),
        loss_type: Optional[str] = typer.Option(None, "--loss-type", help="sigmoid, hinge or ipo."),
        num_epochs: Optional[int] = typer.Option(None, "--num-epochs", help="Epochs."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Per-device batch size."),
        grad_accum: Optional[int] = typer.Option(None, "--gradient-accumulation", help="Gradient accumulation."),
        learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Learning rate."),
        warmup_ratio: Optional[float] = typer.Option(None, "--warmup-ratio", help="Warm-up share of steps."),
        max_length: Optional[int] = typer.Option(None, "--max-length", help="Max prompt+reply length."),
        max_prompt_length: Optional[int] = typer.Option(None, "--max-prompt-length", help="Max prompt length."),
        lora_r: Optional[int] = typer.Option(None, "--lora-r", help=LORA_R_HELP),
        lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help="LoRA alpha."),
        lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout", help="LoRA dropout."),
        lora_targets: Optional[str] = typer.Option(None, "--lora-target-modules", help=TARGETS_HELP),
        logging_steps: Optional[int] = typer.Option(None, "--logging-steps", help="Log every N steps."),
        save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Checkpoint every N steps."),
        save_total_limit: Optional[int] = typer.Option(None, "--save-total-limit", help="Checkpoints kept."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest complete checkpoint."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in the output directory."),
        show_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Direct preference optimisation on prompt/chosen/rejected data."""
        from largeforge.config import DPOConfig
        from largeforge_train.dpo import DPOTrainer

        run, fields, source = _split_config(config, ctx)
        if max_length is not None and max_prompt_length is None and "max_prompt_length" not in fields:
            max_prompt_length = max(64, max_length // 2)  # keep the default below a smaller max_length
        cfg = _build_config(
            DPOConfig,
            fields,
            source,
            output,
            dict(
                max_prompt_length=max_prompt_length,
                beta=beta,
                loss_type=loss_type,
                num_train_epochs=num_epochs,
                max_steps=max_steps,
                per_device_train_batch_size=batch_size,
                gradient_accumulation_steps=grad_accum,
                learning_rate=learning_rate,
                warmup_ratio=warmup_ratio,
                max_length=max_length,
                logging_steps=logging_steps,
                save_steps=save_steps,
                save_total_limit=save_total_limit,
                seed=seed,
            ),
            trl_flags(ctx, DPOTrainer),
        )
        lora = _build_lora(
            run, source, dict(lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=lora_targets), lora_r
        )
        fmt = format or run.get("format", "auto")
        mapping, registry = columns or run.get("columns"), dataset_info or run.get("dataset_info")
        train = _load_data(dataset or run.get("dataset"), fmt, mapping, registry)
        cfg = fit_to_data(cfg, len(train), grad_accum, {**fields, **trl_flags(ctx, DPOTrainer)})
        evaluation = (
            _load_data(eval_dataset or run.get("eval_dataset"), fmt, mapping, registry)
            if (eval_dataset or run.get("eval_dataset"))
            else None
        )
        trainer = DPOTrainer(
            _model(model, run),
            cfg,
            lora,
            ref_model=ref_model or run.get("ref_model"),
            chat_template=run.get("chat_template"),
            eos_token=run.get("eos_token"),
            resume=resume,
            overwrite=overwrite,
        )
        if show_config:
            print_config(
                trainer,
                model=trainer.model_name,
                dataset=dataset or run.get("dataset"),
                eval_dataset=eval_dataset or run.get("eval_dataset"),
                format=fmt,
                columns=mapping,
                dataset_info=registry,
                ref_model=ref_model or run.get("ref_model"),
                chat_template=run.get("chat_template"),
                eos_token=run.get("eos_token"),
            )
            return
        _run("dpo", trainer, train, evaluation)

    @app.command()
    def merge(
        adapter: Path = typer.Option(..., "--adapter", "-a", help="LoRA adapter directory."),
        output: Path = typer.Option(..., "--output", "-o", help="Where to write the merged model."),
        base: Optional[str] = typer.Option(None, "--base", "-b", help="Base model (default: the adapter's)."),
        dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    ) -> None:
        """Merge a LoRA adapter into its base model: an ordinary model directory (safetensors)."""
        from largeforge.cli.output import print_success
        from largeforge.errors import ConfigError
        from largeforge_train.lora import merge_lora

        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"--dtype {dtype!r}: expected float32, bfloat16 or float16")
        path = merge_lora(base, str(adapter), str(output), torch_dtype=dtype)
        print_success(f"merged model written to {path}")

    add_preference_commands(app)
    add_grpo_command(app)
    return app


def _model(model: Optional[str], run: dict[str, Any]) -> str:
    from largeforge.models import DEFAULT_MODEL, resolve_model

    ref = model or run.get("model") or DEFAULT_MODEL
    from largeforge_train.lora import is_adapter_dir

    if not is_adapter_dir(ref):
        resolve_model(ref)  # a bad reference fails here, before anything loads
    return str(ref)


def _read_prompts(path: Path) -> list[str]:
    """Prompts from a .txt file (one per line) or JSON/JSONL (strings or rows with prompt/instruction)."""
    import json

    from largeforge.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        rows = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if path.suffix == ".jsonl"
            else json.loads(text)
        )
        prompts = []
        for index, row in enumerate(rows):
            value = (
                row
                if isinstance(row, str)
                else (row.get("prompt") or row.get("instruction") if isinstance(row, dict) else None)
            )
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}: row {index}: expected a string or an object with 'prompt' or 'instruction'")
            prompts.append(value)
    if not prompts:
        raise DataError(f"{path}: no prompts")
    return prompts


def build_generate() -> typer.Typer:
    """``largeforge data generate sft|preference``."""
    app = typer.Typer(help="Generate training data with a teacher model.", no_args_is_help=True)

    @app.command("sft")
    def generate_sft(
        prompts: Path = typer.Option(..., "--prompts", "-p", help="Prompts: .txt lines, or JSON/JSONL."),
        output: Path = typer.Option(..., "--output", "-o", help="Alpaca JSON file to write."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher model (default: embedded)."),
        system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help="System prompt for the teacher."),
        batch_size: int = typer.Option(4, "--batch-size", min=1, help="Prompts per generation batch."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Reply length limit."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    ) -> None:
        """Answer prompts with a teacher model and write Alpaca SFT rows."""
        from largeforge.cli.output import print_success
        from largeforge.models import DEFAULT_MODEL
        from largeforge.utils.io import save_json
        from largeforge_train.generators import SyntheticGenerator

        items = _read_prompts(prompts)
        generator = SyntheticGenerator(teacher or DEFAULT_MODEL, max_new_tokens=max_new_tokens, seed=seed)
        rows = generator.generate_sft_data(items, system_prompt=system_prompt, batch_size=batch_size)
        save_json(rows, output)
        print_success(f"{len(rows)} SFT rows written to {output}")

    @app.command("preference")
    def generate_preference(
        prompts: Path = typer.Option(..., "--prompts", "-p", help="Prompts: .txt lines, or JSON/JSONL."),
        output: Path = typer.Option(..., "--output", "-o", help="Preference JSON file to write."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher model (default: embedded)."),
        judge: Optional[str] = typer.Option(None, "--judge", help="Judge model ranking the samples."),
        num_samples: int = typer.Option(2, "--num-samples", min=2, help="Samples per prompt (with a judge)."),
        batch_size: int = typer.Option(4, "--batch-size", min=1, help="Prompts per generation batch."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Reply length limit."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    ) -> None:
        """Sample answers and write prompt/chosen/rejected rows (judge-ranked when --judge)."""
        from largeforge.cli.output import print_success
        from largeforge.models import DEFAULT_MODEL
        from largeforge.utils.io import save_json
        from largeforge_train.generators import PreferenceGenerator

        items = _read_prompts(prompts)
        generator = PreferenceGenerator(
            teacher or DEFAULT_MODEL, judge_model=judge, max_new_tokens=max_new_tokens, seed=seed
        )
        rows = generator.generate_preference_data(items, num_samples=num_samples, batch_size=batch_size)
        save_json(rows, output)
        print_success(f"{len(rows)} preference rows written to {output}")

    return app
