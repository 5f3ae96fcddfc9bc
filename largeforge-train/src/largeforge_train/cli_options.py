"""The options of ``largeforge train <method>``, declared once for every method.

Each :class:`Option` says which flags set it, its help, and where its value goes: a field of the
method's config (``config``), of LoRA's (``lora``), a setting of the run read beside the config
(``run``: model, data, templates), an argument of the trainer (``trainer``), or a choice of the
command itself (``command``: ``--print-config``). A method takes
:data:`SHARED` (minus what it leaves out) plus its own options, which may also replace a shared one
(SFT's ``--max-length`` sets ``max_seq_length``). :func:`parameters` turns a method's options into
the parameters Typer reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import typer

from largeforge.cli.data_options import COLUMNS, DATASET_INFO
from largeforge.cli.table_command import Param

Kind = Literal["config", "lora", "run", "trainer", "command"]


@dataclass(frozen=True)
class Option:
    """One option of a train command: ``type`` and ``flags`` for Typer, then where it goes."""

    type: Any
    flags: tuple[str, ...]
    help: str
    kind: Kind = "config"
    #: The field or argument it sets, when not the parameter's own name.
    field: str | None = None
    #: Turns the flag's value into the field's (``--reward a,b`` into a list).
    parse: Callable[[Any], Any] | None = None
    #: A switch (``--resume``): ``False`` unless given, never read from the config file.
    switch: bool = False

    def target(self, name: str) -> str:
        """The field or argument the option parameter ``name`` sets."""
        return self.field or name


LORA_R_HELP = "LoRA rank; 0 for full fine-tuning."
TARGETS_HELP = "Comma-separated module names, 'all-linear', or 'auto' (by architecture)."
PRINT_CONFIG_HELP = "Print the resolved settings (YAML, --config can read it back) and exit before the model loads."
#: The setting a run's options take from the config file when no flag gives it (``format``: auto).
RUN_DEFAULTS = {"format": "auto"}

#: The options every method has (unless it leaves one out), in the order --help lists them.
SHARED: dict[str, Option] = {
    "model": Option(
        Optional[str], ("--model", "-m"), "Model: alias, directory, hub id, or an SFT output (adapter).", "run"
    ),
    "dataset": Option(Optional[Path], ("--dataset", "-d"), "Training data (any supported format).", "run"),
    "output": Option(Optional[Path], ("--output", "-o"), "Output directory.", "run"),
    "config": Option(Optional[Path], ("--config", "-c"), "YAML/TOML/JSON settings; flags override.", "run"),
    "format": Option(Optional[str], ("--format", "-f"), "Data format (default: auto).", "run"),
    "columns": Option(Optional[str], ("--columns",), COLUMNS.help or "", "run"),
    "dataset_info": Option(Optional[Path], ("--dataset-info",), DATASET_INFO.help or "", "run"),
    "eval_dataset": Option(Optional[Path], ("--eval-dataset",), "Evaluation data (same kind).", "run"),
    "num_epochs": Option(Optional[int], ("--num-epochs",), "Epochs.", field="num_train_epochs"),
    "max_steps": Option(Optional[int], ("--max-steps",), "Stop after this many steps."),
    "batch_size": Option(
        Optional[int], ("--batch-size",), "Per-device batch size.", field="per_device_train_batch_size"
    ),
    "grad_accum": Option(
        Optional[int], ("--gradient-accumulation",), "Gradient accumulation.", field="gradient_accumulation_steps"
    ),
    "learning_rate": Option(Optional[float], ("--learning-rate", "--lr"), "Learning rate."),
    "warmup_ratio": Option(Optional[float], ("--warmup-ratio",), "Warm-up share of steps."),
    "max_length": Option(Optional[int], ("--max-length",), "Max prompt+reply length (tokens)."),
    "lora_r": Option(Optional[int], ("--lora-r",), LORA_R_HELP, "lora", "r"),
    "lora_alpha": Option(Optional[int], ("--lora-alpha",), "LoRA alpha.", "lora"),
    "lora_dropout": Option(Optional[float], ("--lora-dropout",), "LoRA dropout.", "lora"),
    "lora_targets": Option(Optional[str], ("--lora-target-modules",), TARGETS_HELP, "lora", "target_modules"),
    "gradient_checkpointing": Option(
        Optional[bool], ("--gradient-checkpointing/--no-gradient-checkpointing",), "Trade compute for memory."
    ),
    "logging_steps": Option(Optional[int], ("--logging-steps",), "Log every N steps."),
    "save_steps": Option(Optional[int], ("--save-steps",), "Checkpoint every N steps."),
    "save_total_limit": Option(Optional[int], ("--save-total-limit",), "Checkpoints kept."),
    "seed": Option(Optional[int], ("--seed",), "Random seed."),
    "chat_template": Option(Optional[str], ("--chat-template",), "Jinja file or string.", "run"),
    "eos_token": Option(Optional[str], ("--eos-token",), "End-of-turn token to train.", "run"),
    "resume": Option(bool, ("--resume",), "Continue from the latest complete checkpoint.", "trainer", switch=True),
    "overwrite": Option(
        bool, ("--overwrite",), "Replace an earlier run in the output directory.", "trainer", switch=True
    ),
    "show_config": Option(bool, ("--print-config",), PRINT_CONFIG_HELP, "command", switch=True),
}
#: A separate reference model, for the methods that have one.
REF_MODEL = Option(
    Optional[str], ("--ref-model",), "Separate reference model (default: the model without its adapter).", "run"
)


def parameters(options: dict[str, Option]) -> dict[str, Param]:
    """The keyword parameters Typer reads for ``options`` (:func:`~largeforge.cli.table_command.
    table_command`): each defaults to ``None`` (unset: the config file or the config's default
    decides), a switch to ``False``."""
    return {
        name: (option.type, typer.Option(False if option.switch else None, *option.flags, help=option.help))
        for name, option in options.items()
    }
