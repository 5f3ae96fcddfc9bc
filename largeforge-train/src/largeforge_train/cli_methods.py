"""What each ``largeforge train <method>`` command adds to the shared options, and how it loads
its data: the table :data:`METHODS`.

A method's trainer comes from the trainer registry under the method's name, so the table holds no
trainer class; the command imports it (and torch behind it) only when it runs. Preference data
given to ``kto`` (or KTO rows to ``orpo``) fails right after loading, in one line naming the file,
the row, what was expected and the method that takes the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from largeforge.cli.data_options import source_of
from largeforge.errors import ConfigError
from largeforge_train.cli_options import REF_MODEL, SHARED, Option

#: (method, trainer class, config, resolved run values) → (training data, evaluation data or None)
Loader = Callable[[str, Any, Any, dict[str, Any]], tuple[Any, Any]]


def load_data(path: Any, fmt: str, columns: Any = None, dataset_info: Any = None) -> Any:
    """The dataset at ``path`` (any location the data readers open, or a name in ``dataset_info``),
    its columns mapped by ``columns`` (``name=column`` text or a mapping)."""
    from largeforge.data import DatasetFactory  # the data layer loads when a command runs, not for --help

    if path is None:
        raise ConfigError("dataset is required: pass --dataset or set dataset in --config")
    return DatasetFactory.load(source_of(str(path), columns, dataset_info), fmt)


def _rows(check_kind: bool) -> Loader:
    def load(method: str, trainer_cls: Any, config: Any, values: dict[str, Any]) -> tuple[Any, Any]:
        from largeforge.data.kinds import check_data_kind  # the data package loads when a command runs

        loaded: list[Any] = []
        for key in ("dataset", "eval_dataset"):
            path = values.get(key)
            if path is None and key == "eval_dataset":
                loaded.append(None)
                continue
            data = load_data(path, values["format"], values.get("columns"), values.get("dataset_info"))
            if check_kind:
                check_data_kind(method, trainer_cls.data_kind, data, source=str(path))
            loaded.append(data)
        return loaded[0], loaded[1]

    return load


#: Rows in any supported format (``--format``, ``--columns``, ``--dataset-info``).
load_rows = _rows(check_kind=False)
#: The same, each file checked to hold the kind of data the method trains on.
load_rows_of_kind = _rows(check_kind=True)


def load_prompts(method: str, trainer_cls: Any, config: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """Prompt rows checked against the config's rewards (:meth:`GRPOTrainer.load_stage_data`)."""
    from largeforge_train.grpo_data import load_prompt_dataset  # returns datasets: loads when a command runs

    data = values.get("dataset")
    if data is None:
        raise ConfigError("dataset is required: pass --dataset or set dataset in --config")
    if not Path(data).exists():
        raise ConfigError(f"dataset {data}: no such file")
    train = trainer_cls.load_stage_data(data, config)
    evaluation = values.get("eval_dataset")
    return train, load_prompt_dataset(evaluation) if evaluation else None


def _weights(value: Optional[str]) -> list[float] | None:
    """``--reward-weights 1,0.5`` as floats (one-line error otherwise)."""
    if value is None:
        return None
    try:
        return [float(w) for w in value.split(",") if w.strip()]
    except ValueError:
        raise ConfigError(f"--reward-weights {value!r}: expected comma-separated numbers, e.g. 1,0.5") from None


def _rewards(values: Optional[list[str]]) -> list[str] | None:
    """``--reward a --reward b`` or ``--reward a,b``."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _dpo_prompt_length(values: dict[str, Any], fields: dict[str, Any]) -> None:
    """Keep ``max_prompt_length``'s default below a smaller ``--max-length``."""
    length, prompt = values.get("max_length"), values.get("max_prompt_length")
    if length is not None and prompt is None and "max_prompt_length" not in fields:
        values["max_prompt_length"] = max(64, values["max_length"] // 2)


@dataclass(frozen=True)
class Method:
    """One train command: its help line, its own options (which may replace shared ones), the
    shared options it leaves out, how it loads its data, and whether the accumulation is fitted
    to the data's rows."""

    help: str
    options: dict[str, Option] = field(default_factory=dict)
    omit: tuple[str, ...] = ()
    load: Loader = load_rows
    fit_to_rows: bool = True
    #: Adjusts the option values before the config is built (given the config file's fields).
    prepare: Callable[[dict[str, Any], dict[str, Any]], None] | None = None

    def all_options(self) -> dict[str, Option]:
        """The command's options in --help order: the shared ones (replaced where the method has its
        own), then the method's new ones, switches last and ``--print-config`` at the very end."""
        merged = {name: self.options.get(name, option) for name, option in SHARED.items() if name not in self.omit}
        merged.update({name: option for name, option in self.options.items() if name not in SHARED})
        order = sorted(merged, key=lambda n: (merged[n].switch, n == "show_config"))
        return {name: merged[name] for name in order}


BETA = ("--beta",)
LOSS_TYPE = ("--loss-type",)
SIMPO_GAMMA = ("--simpo-gamma",)
CPO_ALPHA = ("--cpo-alpha",)

METHODS: dict[str, Method] = {
    "sft": Method(
        "Supervised fine-tuning (loss on the replies; LoRA unless --lora-r 0).",
        {
            "model": Option(Optional[str], ("--model", "-m"), "Base model: alias, directory or hub id.", "run"),
            "eval_dataset": Option(Optional[Path], ("--eval-dataset",), "Evaluation data.", "run"),
            "max_length": Option(
                Optional[int], ("--max-length",), "Max sequence length (tokens).", field="max_seq_length"
            ),
            "packing": Option(
                Optional[bool],
                ("--packing/--no-packing",),
                "Pack short examples: no padding, about a batch of examples a step.",
            ),
            "train_on_prompt": Option(
                Optional[bool],
                ("--train-on-prompt/--completions-only",),
                "Loss on whole sequences (default: replies only).",
            ),
            "eval_steps": Option(Optional[int], ("--eval-steps",), "Evaluate every N steps."),
            "patience": Option(
                Optional[int],
                ("--early-stopping-patience",),
                "Stop after N evaluations without a better eval_loss.",
                "trainer",
                "early_stopping_patience",
            ),
            "save_best": Option(
                bool, ("--save-best",), "Keep the best model (eval_loss) in OUTPUT/best.", "trainer", switch=True
            ),
        },
    ),
    "dpo": Method(
        "Direct preference optimisation on prompt/chosen/rejected data.",
        {
            "model": Option(Optional[str], ("--model", "-m"), "Model (usually an SFT output).", "run"),
            "dataset": Option(Optional[Path], ("--dataset", "-d"), "Preference data.", "run"),
            "eval_dataset": Option(Optional[Path], ("--eval-dataset",), "Evaluation preference data.", "run"),
            "ref_model": REF_MODEL,
            "beta": Option(Optional[float], BETA, "DPO beta (0, 1]."),
            "loss_type": Option(Optional[str], LOSS_TYPE, "sigmoid, hinge or ipo."),
            "max_prompt_length": Option(Optional[int], ("--max-prompt-length",), "Max prompt length."),
        },
        prepare=_dpo_prompt_length,
    ),
    "kto": Method(
        "KTO on unpaired thumbs-up/down data: messages with a boolean label (LLaMA-Factory's kto_tag).",
        {
            "ref_model": REF_MODEL,
            "beta": Option(Optional[float], BETA, "Deviation from the reference model (> 0)."),
            "loss_type": Option(Optional[str], LOSS_TYPE, "kto or apo_zero_unpaired."),
            "desirable_weight": Option(Optional[float], ("--desirable-weight",), "Weight of label-true rows."),
            "undesirable_weight": Option(Optional[float], ("--undesirable-weight",), "Weight of label-false rows."),
        },
        load=load_rows_of_kind,
    ),
    "orpo": Method(
        "ORPO on prompt/chosen/rejected pairs: SFT and preference in one stage, no reference model.",
        {"beta": Option(Optional[float], BETA, "Weight of the odds-ratio term (the paper's lambda).")},
        load=load_rows_of_kind,
    ),
    "simpo": Method(
        "SimPO on prompt/chosen/rejected pairs: length-normalised margins, no reference model.",
        {
            "beta": Option(Optional[float], BETA, "Reward scale (the paper uses 2-2.5)."),
            "simpo_gamma": Option(Optional[float], SIMPO_GAMMA, "Target reward margin."),
            "cpo_alpha": Option(Optional[float], CPO_ALPHA, "Weight of the SFT loss on chosen (0: pure SimPO)."),
        },
        load=load_rows_of_kind,
    ),
    "cpo": Method(
        "CPO on prompt/chosen/rejected pairs: preference loss plus SFT on chosen, no reference model.",
        {
            "beta": Option(Optional[float], BETA, "Preference temperature (> 0)."),
            "loss_type": Option(Optional[str], LOSS_TYPE, "sigmoid, hinge, ipo or simpo."),
            "cpo_alpha": Option(Optional[float], CPO_ALPHA, "Weight of the SFT loss on chosen."),
            "simpo_gamma": Option(Optional[float], SIMPO_GAMMA, "Target reward margin (loss_type simpo)."),
        },
        load=load_rows_of_kind,
    ),
    "grpo": Method(
        "GRPO: sample completions of each prompt, score them with reward functions, reinforce the better.",
        {
            "model": Option(Optional[str], ("--model", "-m"), "Model: alias, directory, hub id or adapter.", "run"),
            "dataset": Option(
                Optional[Path],
                ("--dataset", "-d"),
                "Prompts (JSON/JSONL: prompt, or messages ending with the user's turn).",
                "run",
            ),
            "eval_dataset": Option(Optional[Path], ("--eval-dataset",), "Evaluation prompts.", "run"),
            "reward": Option(
                Optional[list[str]],
                ("--reward", "-r"),
                "Registered reward (repeat or comma-separate); see `largeforge plugins`.",
                field="reward_funcs",
                parse=_rewards,
            ),
            "reward_weights": Option(
                Optional[str], ("--reward-weights",), "One weight per reward: 1,0.5.", parse=_weights
            ),
            "format_pattern": Option(
                Optional[str], ("--format-pattern",), "Regular expression the format_regex reward looks for."
            ),
            "reference_column": Option(
                Optional[str], ("--reference-column",), "Column exact_match/contains_answer compare with."
            ),
            "num_generations": Option(Optional[int], ("--num-generations",), "Completions per prompt."),
            "max_completion_length": Option(Optional[int], ("--max-completion-length",), "Max generated tokens."),
            "temperature": Option(Optional[float], ("--temperature",), "Sampling temperature."),
            "beta": Option(Optional[float], BETA, "KL coefficient (0: no reference model)."),
            "loss_type": Option(Optional[str], LOSS_TYPE, "dapo, grpo, dr_grpo, bnpo, cispo, sapo."),
            "batch_size": Option(
                Optional[int],
                ("--batch-size",),
                "Completions per device and step (x accumulation: whole groups).",
                field="per_device_train_batch_size",
            ),
        },
        omit=("format", "columns", "dataset_info", "max_length"),
        load=load_prompts,
        fit_to_rows=False,
    ),
}
