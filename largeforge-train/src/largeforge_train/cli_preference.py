"""``largeforge train kto|orpo|simpo|cpo``: one command per preference method, built from a table.

They share the options of ``train dpo`` (data, LoRA, steps, checkpoints, resume) and add their
method's own (``--beta``, ``--simpo-gamma``, ...). The data is checked to be of the method's kind
right after loading, so preference pairs given to ``kto`` (or KTO rows to ``orpo``) fail in one
line naming the file, the row, what was expected and the method that takes the data.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

from largeforge.cli.data_options import COLUMNS, DATASET_INFO
from largeforge_train.cli import LORA_R_HELP, PRINT_CONFIG_HELP, TARGETS_HELP, TrainCommand

_P = inspect.Parameter

#: parameter → (type, flags, help) of the options every preference command has
COMMON: dict[str, tuple[Any, tuple[str, ...], str]] = {
    "model": (Optional[str], ("--model", "-m"), "Model: alias, directory, hub id, or an SFT output (adapter)."),
    "dataset": (Optional[Path], ("--dataset", "-d"), "Training data."),
    "output": (Optional[Path], ("--output", "-o"), "Output directory."),
    "config": (Optional[Path], ("--config", "-c"), "YAML/TOML/JSON settings; flags override."),
    "format": (Optional[str], ("--format", "-f"), "Data format (default: auto)."),
    "columns": (Optional[str], ("--columns",), COLUMNS.help or ""),
    "dataset_info": (Optional[Path], ("--dataset-info",), DATASET_INFO.help or ""),
    "eval_dataset": (Optional[Path], ("--eval-dataset",), "Evaluation data (same kind)."),
    "num_epochs": (Optional[int], ("--num-epochs",), "Epochs."),
    "max_steps": (Optional[int], ("--max-steps",), "Stop after this many steps."),
    "batch_size": (Optional[int], ("--batch-size",), "Per-device batch size."),
    "grad_accum": (Optional[int], ("--gradient-accumulation",), "Gradient accumulation."),
    "learning_rate": (Optional[float], ("--learning-rate", "--lr"), "Learning rate."),
    "warmup_ratio": (Optional[float], ("--warmup-ratio",), "Warm-up share of steps."),
    "max_length": (Optional[int], ("--max-length",), "Max prompt+reply length (tokens)."),
    "lora_r": (Optional[int], ("--lora-r",), LORA_R_HELP),
    "lora_alpha": (Optional[int], ("--lora-alpha",), "LoRA alpha."),
    "lora_dropout": (Optional[float], ("--lora-dropout",), "LoRA dropout."),
    "lora_targets": (Optional[str], ("--lora-target-modules",), TARGETS_HELP),
    "gradient_checkpointing": (
        Optional[bool],
        ("--gradient-checkpointing/--no-gradient-checkpointing",),
        "Trade compute for memory.",
    ),
    "logging_steps": (Optional[int], ("--logging-steps",), "Log every N steps."),
    "save_steps": (Optional[int], ("--save-steps",), "Checkpoint every N steps."),
    "save_total_limit": (Optional[int], ("--save-total-limit",), "Checkpoints kept."),
    "seed": (Optional[int], ("--seed",), "Random seed."),
    "chat_template": (Optional[str], ("--chat-template",), "Jinja file or string."),
    "eos_token": (Optional[str], ("--eos-token",), "End-of-turn token to train."),
}
#: flag parameter → config field, where the names differ
FIELDS = {
    "num_epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
}
_RUN = (
    "model",
    "dataset",
    "output",
    "config",
    "format",
    "columns",
    "dataset_info",
    "eval_dataset",
    "chat_template",
    "eos_token",
    "ref_model",
)
_LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets")

REF_MODEL = (Optional[str], ("--ref-model",), "Separate reference model (default: the model without its adapter).")
BETA = "--beta"

#: method → (trainer, one-line help, the method's own options)
METHODS: dict[str, tuple[str, str, dict[str, tuple[Any, tuple[str, ...], str]]]] = {
    "kto": (
        "largeforge_train.kto:KTOTrainer",
        "KTO on unpaired thumbs-up/down data: messages with a boolean label (LLaMA-Factory's kto_tag).",
        {
            "ref_model": REF_MODEL,
            "beta": (Optional[float], (BETA,), "Deviation from the reference model (> 0)."),
            "loss_type": (Optional[str], ("--loss-type",), "kto or apo_zero_unpaired."),
            "desirable_weight": (Optional[float], ("--desirable-weight",), "Weight of label-true rows."),
            "undesirable_weight": (Optional[float], ("--undesirable-weight",), "Weight of label-false rows."),
        },
    ),
    "orpo": (
        "largeforge_train.cpo:ORPOTrainer",
        "ORPO on prompt/chosen/rejected pairs: SFT and preference in one stage, no reference model.",
        {
            "beta": (Optional[float], (BETA,), "Weight of the odds-ratio term (the paper's lambda)."),
        },
    ),
    "simpo": (
        "largeforge_train.cpo:SimPOTrainer",
        "SimPO on prompt/chosen/rejected pairs: length-normalised margins, no reference model.",
        {
            "beta": (Optional[float], (BETA,), "Reward scale (the paper uses 2-2.5)."),
            "simpo_gamma": (Optional[float], ("--simpo-gamma",), "Target reward margin."),
            "cpo_alpha": (Optional[float], ("--cpo-alpha",), "Weight of the SFT loss on chosen (0: pure SimPO)."),
        },
    ),
    "cpo": (
        "largeforge_train.cpo:CPOTrainer",
        "CPO on prompt/chosen/rejected pairs: preference loss plus SFT on chosen, no reference model.",
        {
            "beta": (Optional[float], (BETA,), "Preference temperature (> 0)."),
            "loss_type": (Optional[str], ("--loss-type",), "sigmoid, hinge, ipo or simpo."),
            "cpo_alpha": (Optional[float], ("--cpo-alpha",), "Weight of the SFT loss on chosen."),
            "simpo_gamma": (Optional[float], ("--simpo-gamma",), "Target reward margin (loss_type simpo)."),
        },
    ),
}


def _trainer(path: str) -> Any:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _signature(own: dict[str, tuple[Any, tuple[str, ...], str]]) -> inspect.Signature:
    params = [_P("ctx", _P.KEYWORD_ONLY, annotation=typer.Context)]
    params += [
        _P(name, _P.KEYWORD_ONLY, annotation=tp, default=typer.Option(None, *flags, help=text))
        for name, (tp, flags, text) in {**COMMON, **own}.items()
    ]
    switches = {
        "resume": ("--resume", "Continue from the latest complete checkpoint."),
        "overwrite": ("--overwrite", "Replace an earlier run in the output directory."),
        "show_config": ("--print-config", PRINT_CONFIG_HELP),
    }
    params += [
        _P(name, _P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, flag, help=text))
        for name, (flag, text) in switches.items()
    ]
    return inspect.Signature(params)


def train_preference(method: str, trainer_cls: Any, options: dict[str, Any]) -> None:
    """Build the config, LoRA and data of ``largeforge train <method>`` from its options (extra
    flags: fields of the trainer's TRL config); train, or print the resolved settings."""
    from largeforge.data.kinds import check_data_kind
    from largeforge_train.cli import (
        _build_config,
        _build_lora,
        _load_data,
        _model,
        _run,
        _split_config,
        fit_to_data,
        print_config,
        trl_flags,
    )

    ctx = options.pop("ctx")
    resume, overwrite, show_config = (options.pop(k) for k in ("resume", "overwrite", "show_config"))
    run, fields, source = _split_config(options["config"], ctx)
    flags = {FIELDS.get(k, k): v for k, v in options.items() if k not in (*_RUN, *_LORA)}
    cfg = _build_config(trainer_cls.config_class, fields, source, options["output"], flags, trl_flags(ctx, trainer_cls))
    lora = _build_lora(
        run,
        source,
        dict(
            lora_alpha=options["lora_alpha"],
            lora_dropout=options["lora_dropout"],
            target_modules=options["lora_targets"],
        ),
        options["lora_r"],
    )
    fmt = options["format"] or run.get("format", "auto")
    paths = {key: options[key] or run.get(key) for key in ("dataset", "eval_dataset")}
    datasets = {}
    for key, path in paths.items():
        if path is None and key == "eval_dataset":
            continue
        datasets[key] = _load_data(
            path, fmt, options["columns"] or run.get("columns"), options["dataset_info"] or run.get("dataset_info")
        )
        check_data_kind(method, trainer_cls.data_kind, datasets[key], source=str(path))
    # The same small-data rule as sft/dpo: accumulation fitted to the rows unless the user set it.
    given = {**fields, **trl_flags(ctx, trainer_cls)}
    cfg = fit_to_data(cfg, len(datasets["dataset"]), options.get("grad_accum"), given)
    extra = {"ref_model": options.get("ref_model") or run.get("ref_model")} if "ref_model" in options else {}
    chat_template = options["chat_template"] or run.get("chat_template")
    eos_token = options["eos_token"] or run.get("eos_token")
    trainer = trainer_cls(
        _model(options["model"], run),
        cfg,
        lora,
        chat_template=chat_template,
        eos_token=eos_token,
        resume=resume,
        overwrite=overwrite,
        **extra,
    )
    if show_config:
        print_config(
            trainer,
            model=trainer.model_name,
            **paths,
            format=fmt,
            columns=options["columns"] or run.get("columns"),
            dataset_info=options["dataset_info"] or run.get("dataset_info"),
            chat_template=chat_template,
            eos_token=eos_token,
            **extra,
        )
        return
    _run(method, trainer, datasets["dataset"], datasets.get("eval_dataset"))


def add_preference_commands(app: typer.Typer) -> None:
    """Add ``kto``, ``orpo``, ``simpo`` and ``cpo`` to the ``train`` group."""
    for method, (path, help_text, own) in METHODS.items():

        def command(__method: str = method, __path: str = path, **options: Any) -> None:
            train_preference(__method, _trainer(__path), options)

        command.__signature__ = _signature(own)  # type: ignore[attr-defined]
        command.__doc__ = help_text
        app.command(method, help=help_text, cls=TrainCommand)(command)
