"""The body of ``largeforge train <method>``, one for every method: settings resolved (defaults, the
config files, flags), data loaded and checked, the trainer built, then a run and its summary or
``--print-config``. Everything a user can get wrong is reported in one line before the model loads.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from largeforge.cli.output import console, print_success
from largeforge.models import DEFAULT_MODEL, resolve_model
from largeforge.plugins import registries
from largeforge_train.cli_methods import Method
from largeforge_train.cli_options import RUN_DEFAULTS
from largeforge_train.cli_settings import build_config, build_lora, fit_to_data, print_config, split_config, trl_flags
from largeforge_train.distributed import leave_process_group
from largeforge_train.lora import is_adapter_dir

#: Metrics the summary shows when a run logged them.
SUMMARY_METRICS = (
    "rewards/margins",
    "rewards/accuracies",
    "reward_first",
    "reward_last",
    "eval_loss",
    "eval_perplexity",
)


def model_reference(model: Optional[str], run: dict[str, Any]) -> str:
    """The model to train (flag, then config, then the embedded default), checked before anything loads."""
    ref = model or run.get("model") or DEFAULT_MODEL
    if not is_adapter_dir(ref):
        resolve_model(ref)  # a bad reference fails here, before anything loads
    return str(ref)


def _identity(value: Any) -> Any:
    return value


#: Run settings the trainer takes as arguments (the others say where the data is).
TRAINER_SETTINGS = ("ref_model", "chat_template", "eos_token")
#: The run settings --print-config shows, in its order (before the config's fields).
PRINTED = ("dataset", "eval_dataset", "format", "columns", "dataset_info", "ref_model", "chat_template", "eos_token")


def train_method(name: str, method: Method, options: dict[str, Any]) -> None:
    """Build the config, LoRA and data of ``largeforge train <name>`` from its ``options`` (extra
    flags: fields of the trainer's TRL config); train, or print the resolved settings."""
    ctx = options.pop("ctx")
    table = method.all_options()
    trainer_cls: Any = registries().trainers.get(name)
    run, fields, source = split_config(options["config"], ctx)
    if method.prepare is not None:
        method.prepare(options, fields)
    values: dict[str, dict[str, Any]] = {"config": {}, "lora": {}, "run": {}, "trainer": {}, "command": {}}
    for key, value in options.items():
        option = table[key]
        values[option.kind][option.target(key)] = (option.parse or _identity)(value)
    extra = trl_flags(ctx, trainer_cls)
    cfg = build_config(trainer_cls.config_class, fields, source, options["output"], values["config"], extra)
    lora_r = values["lora"].pop("r")
    lora = build_lora(run, source, values["lora"], lora_r)
    settings = {
        key: value or run.get(key, RUN_DEFAULTS.get(key))
        for key, value in values["run"].items()
        if key not in ("output", "config")
    }
    train, evaluation = method.load(name, trainer_cls, cfg, settings)
    if method.fit_to_rows:
        cfg = fit_to_data(cfg, len(train), options.get("grad_accum"), {**fields, **extra})
    trainer = trainer_cls(
        model_reference(settings.pop("model"), run),
        cfg,
        lora,
        **{key: settings[key] for key in TRAINER_SETTINGS if key in settings},
        **values["trainer"],
    )
    if values["command"]["show_config"]:
        print_config(trainer, model=trainer.model_name, **{k: settings[k] for k in PRINTED if k in settings})
        return
    _run(name, trainer, train, evaluation)


def _summary(method: str, result: Any, elapsed: float, lora: bool) -> None:
    metrics = result.metrics
    print_success(f"{method.upper()} finished in {elapsed:.0f}s")
    console.print(f"  final loss      {result.loss:.4f}")
    console.print(f"  steps           {result.global_step}")
    for key in SUMMARY_METRICS:
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
    leave_process_group()
    if trainer.trainer is not None and not trainer.trainer.is_world_process_zero():
        return  # under accelerate launch, one summary from the main process
    _summary(method, result, time.perf_counter() - start, trainer.lora_config is not None)
