"""BaseTrainer (spec 3.1): model and tokenizer loading, arguments, callbacks, resume, saving.

Subclasses only say which TRL config and trainer to build; everything shared — precision that
follows the device, the spec's ``warmup_ratio``, checkpoints that survive a kill, progress and
JSONL logging, the result summary — lives here.
"""

from __future__ import annotations

import abc
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.config import LoRAConfig, TrainingConfig
from largeforge.contracts import TrainingResult
from largeforge.data.tools import template_knows_tools
from largeforge.errors import ConfigError
from largeforge.utils.device import is_bf16_supported
from largeforge.utils.logging import get_logger
from largeforge_train.checkpoints import CheckpointManager
from largeforge_train.errors import PreflightError, TrainingError
from largeforge_train.lora import adapter_base_model, get_peft_config, is_adapter_dir, load_merged, setup_lora
from largeforge_train.metrics import add_perplexity
from largeforge_train.preflight import load_chat_template
from largeforge_train.tool_data import fold_tools

if TYPE_CHECKING:
    import datasets

logger = get_logger(__name__)
LOG_FILE = "train_log.jsonl"
#: report_to integrations that need a package: name → (modules, any of which works; extra to install)
INTEGRATIONS = {"wandb": (("wandb",), "wandb"), "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard")}

__all__ = ["BaseTrainer", "TrainingResult", "resolve_precision"]


_WARNED: set[str] = set()  # precision fallbacks already reported in this process


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


def resolve_precision(config: TrainingConfig) -> tuple[bool, bool]:
    """(bf16, fp16) as the device allows: bf16 only where native, fp16 only on CUDA; else fp32.
    Each fallback is reported once per process (a trainer resolves precision more than once)."""
    import torch

    bf16, fp16 = config.bf16, config.fp16
    if bf16 and not is_bf16_supported():
        _warn_once("bf16 (the default) needs native bf16, which this device lacks: training in fp32")
        bf16 = False
    if fp16 and not torch.cuda.is_available():
        _warn_once("fp16 needs a CUDA device: training in fp32")
        fp16 = False
    return bf16, fp16


class BaseTrainer(abc.ABC):
    """Shared machinery of LargeForge trainers (a :class:`largeforge.contracts.Trainer`).

    ``model_name`` is anything :func:`largeforge.models.resolve_model` resolves (alias, local
    directory, cached hub id) or a LoRA adapter directory, which is merged into its base first.
    Options: ``chat_template`` (Jinja string or file), ``eos_token``, ``resume`` (True for the
    latest checkpoint of ``output_dir``, or a checkpoint path), ``callbacks``, ``progress``, and
    with an evaluation set ``early_stopping_patience`` (evaluations without a better ``eval_loss``)
    and ``save_best`` (keep the best model in ``output_dir/best``).
    """

    method: str = "base"
    #: The kind of data it trains on (see :mod:`largeforge.data.kinds`); ``None``: unchecked.
    data_kind: str | None = None
    #: Its config class (a :class:`TrainingConfig`), which validates options given as a dict.
    config_class: type[TrainingConfig] = TrainingConfig
    #: The TRL config class the trainer builds (dotted path); any of its fields can be passed
    #: through ``TrainingConfig.trl_args`` (see :mod:`largeforge_train.trl_args`).
    trl_config_class: str = ""
    #: Fields of that class LargeForge sets itself from its own settings: name → what to set instead.
    trl_managed: ClassVar[dict[str, str]] = {"resume_from_checkpoint": "--resume", "output_dir": "--output"}

    def __init__(
        self,
        model_name: str,
        config: TrainingConfig,
        lora_config: LoRAConfig | None = None,
        *,
        chat_template: str | None = None,
        eos_token: str | None = None,
        resume: bool | str = False,
        callbacks: list[Any] | None = None,
        progress: bool = True,
        early_stopping_patience: int | None = None,
        save_best: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.model_name = model_name
        self.config = config
        self.trl_args = self.check_trl_args(config)
        self.lora_config = lora_config
        self.chat_template = load_chat_template(chat_template)
        self.eos_token = eos_token
        self.resume = resume
        self.extra_callbacks = list(callbacks or [])
        self.progress = progress
        self.early_stopping_patience = early_stopping_patience
        self.save_best = save_best
        self.overwrite = overwrite
        self.checkpoints = CheckpointManager(config.output_dir, config.save_total_limit)
        self._model: Any = None
        self._tokenizer: Any = None
        self.trainer: Any = None
        #: Rows of the last dataset given to :meth:`train` (before a method reshapes them).
        self.rows: int | None = None

    # -- loading --------------------------------------------------------------------------------

    def _model_dir(self) -> Path:
        from largeforge.models import resolve_model

        if is_adapter_dir(self.model_name):
            return Path(self.model_name)
        return resolve_model(self.model_name)

    @property
    def dtype(self) -> Any:
        """The torch dtype the weights load in (fp32 unless bf16/fp16 will actually be used)."""
        import torch

        bf16, fp16 = resolve_precision(self.config)
        return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32

    def load_tokenizer(self) -> Any:
        """The tokenizer, with the chosen chat template and EOS token applied."""
        from transformers import AutoTokenizer

        source = self._model_dir()
        if is_adapter_dir(source) and not (source / "tokenizer_config.json").is_file():
            source = Path(str(self._resolve(adapter_base_model(source))))
        tokenizer = AutoTokenizer.from_pretrained(source)
        if self.chat_template:
            tokenizer.chat_template = self.chat_template
        if self.eos_token:
            if self.eos_token not in tokenizer.get_vocab():
                raise TrainingError(f"eos_token {self.eos_token!r} is not in the tokenizer's vocabulary")
            tokenizer.eos_token = self.eos_token
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        return tokenizer

    @staticmethod
    def _resolve(ref: str) -> Path:
        from largeforge.models import resolve_model

        return resolve_model(ref)

    def load_model(self) -> Any:
        """The model in the dtype the device supports; an adapter directory is merged into its base."""
        from transformers import AutoModelForCausalLM

        source = self._model_dir()
        with_adapter = is_adapter_dir(source)
        logger.info("loading %s%s", source, " (merging its LoRA adapter)" if with_adapter else "")
        if with_adapter:
            model = load_merged(source, torch_dtype=self.dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype)
        self._model = model
        return model

    def prepare_model(self, model: Any) -> Any:
        """Apply LoRA when configured, gradient checkpointing when enabled, and set train mode.

        The trainers hand LoRA to TRL through ``peft_config`` instead; this is for callers that
        drive their own loop.
        """
        if self.config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        if self.lora_config is not None:
            model = setup_lora(model, self.lora_config)
        model.train()
        self._model = model
        return model

    def peft_config(self) -> Any:
        """PEFT's config for TRL, or ``None`` for full fine-tuning."""
        if self.lora_config is None:
            return None
        model_type = getattr(getattr(self._model, "config", None), "model_type", "") or ""
        return get_peft_config(self.lora_config, model_type)

    @property
    def model(self) -> Any:
        """The model being trained (after training: the trained one)."""
        return self.trainer.model if self.trainer is not None else self._model

    @property
    def tokenizer(self) -> Any:
        """The tokenizer in use."""
        return self._tokenizer

    # -- arguments and callbacks -------------------------------------------------------------------

    def common_args(self, has_eval: bool) -> dict[str, Any]:
        """TrainingArguments fields shared by every TRL config, mapped from :class:`TrainingConfig`."""
        import torch

        c = self.config
        bf16, fp16 = resolve_precision(c)
        report_to = [r for r in self.report_to() if r not in INTEGRATIONS or self._integration_available(r)]
        return {
            "output_dir": c.output_dir,
            "num_train_epochs": c.num_train_epochs,
            "max_steps": c.max_steps,
            "per_device_train_batch_size": c.per_device_train_batch_size,
            "per_device_eval_batch_size": c.per_device_eval_batch_size,
            "gradient_accumulation_steps": c.gradient_accumulation_steps,
            "learning_rate": c.learning_rate,
            "weight_decay": c.weight_decay,
            # transformers 5 dropped warmup_ratio: a float below 1 in warmup_steps is a ratio.
            "warmup_steps": min(c.warmup_ratio, 0.999),
            "lr_scheduler_type": c.lr_scheduler_type,
            "max_grad_norm": c.max_grad_norm,
            "logging_steps": c.logging_steps,
            "logging_first_step": True,
            "save_strategy": "steps",
            "save_steps": c.save_steps,
            # Rotation is CheckpointManager's, after the completeness marker (see checkpoints.py).
            "save_total_limit": None,
            "eval_strategy": "steps" if has_eval else "no",
            "eval_steps": c.eval_steps,
            "bf16": bf16,
            "fp16": fp16,
            "seed": c.seed,
            "data_seed": c.seed,
            "gradient_checkpointing": c.gradient_checkpointing,
            "report_to": report_to or "none",
            "disable_tqdm": True,
            "dataloader_pin_memory": torch.cuda.is_available(),
            # Several processes without CUDA (accelerate launch --multi_gpu / torchrun on a CPU):
            # DDP over gloo. transformers would otherwise run each process alone on the same data.
            "use_cpu": _processes() > 1 and not torch.cuda.is_available(),
        }

    @classmethod
    def check_trl_args(cls, config: TrainingConfig, source: str | None = None) -> dict[str, Any]:
        """The config's TRL pass-through fields, converted to their types; a one-line ConfigError
        (with the closest valid names) for a field ``trl_config_class`` does not have."""
        if not config.trl_args:
            return {}
        from largeforge_train.trl_args import check_trl_args

        own = [f for f in type(config).__struct_fields__ if f != "trl_args"]
        if not cls.trl_config_class:
            raise ConfigError(f"{next(iter(config.trl_args))}: unknown field (allowed: {', '.join(own)})")
        return check_trl_args(
            cls.trl_config_class, config.trl_args, own_fields=own, managed=cls.trl_managed, source=source
        )

    def training_args(self, has_eval: bool, **specific: Any) -> Any:
        """The trainer's TRL config: :meth:`common_args`, then the trainer's ``specific`` fields,
        then the pass-through fields (which may override a common default such as ``warmup_steps``
        or ``save_strategy``, never a field the trainer derives from its own settings)."""
        import importlib

        clash = sorted(set(specific) & set(self.trl_args))
        if clash:
            raise ConfigError(
                f"{clash[0]}: LargeForge sets this field of {self.trl_config_class} for "
                f"{self.method} from its own settings; leave it out"
            )
        module, _, name = self.trl_config_class.rpartition(".")
        config_cls = getattr(importlib.import_module(module), name)
        try:
            return config_cls(**{**self.common_args(has_eval), **specific, **self.trl_args})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.trl_config_class}: {' '.join(str(exc).split())}") from None

    #: Trained tokens of an example, when the preflight measured them (for :meth:`warn_short_run`).
    tokens_per_example: float | None = None

    def warn_short_run(self, rows: int) -> str | None:
        """Warn, in one line saying what to change, when ``rows`` examples make a run too short to
        learn (few optimizer steps; LoRA on attention only) — see :mod:`largeforge_train.run_length`."""
        import os

        from largeforge_train.lora import resolve_target_modules
        from largeforge_train.run_length import short_run_warning

        targets = None
        if self.lora_config is not None:
            targets = resolve_target_modules(self.lora_config, str(self._model_dir()))
        warning = short_run_warning(rows, self.config, targets, self.tokens_per_example, self.method)
        if warning and os.environ.get("RANK", "0") == "0":
            logger.warning("preflight: %s", warning)
        return warning

    def report_to(self) -> list[str]:
        """``report_to`` as a list (the config takes one name or several)."""
        value = self.config.report_to
        names = [value] if isinstance(value, str) else list(value)
        return [] if names == ["none"] else names

    @staticmethod
    def _integration_available(name: str) -> bool:
        import importlib.util

        modules, extra = INTEGRATIONS[name]
        if not any(importlib.util.find_spec(m) is not None for m in modules):
            logger.warning(
                "report_to includes %s but %s is not installed (pip install 'largeforge-train[%s]'): skipped",
                name,
                modules[0],
                extra,
            )
            return False
        return True

    def callbacks(self, has_eval: bool = False) -> list[Any]:
        """Checkpoint marking, the JSONL log, the progress bar, early stopping and save-best (with an
        evaluation set), then the caller's callbacks."""
        from largeforge_train.callbacks import (
            EarlyStoppingCallback,
            LoggingCallback,
            ProgressCallback,
            SaveBestModelCallback,
        )

        out = Path(self.config.output_dir)
        callbacks: list[Any] = [self.checkpoints.callback(), LoggingCallback(out / LOG_FILE)]
        if self.progress:
            callbacks.append(ProgressCallback(f"{self.method}"))
        if has_eval and self.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(patience=self.early_stopping_patience))
        if has_eval and self.save_best:
            callbacks.append(SaveBestModelCallback(out / "best"))
        return callbacks + self.extra_callbacks

    def resume_checkpoint(self) -> str | None:
        """The checkpoint to resume from (half-written ones are discarded first), or ``None``."""
        if not self.resume:
            self._check_fresh_output()
            return None
        self.checkpoints.discard_incomplete()
        if isinstance(self.resume, str):
            if not CheckpointManager.is_complete(self.resume):
                raise TrainingError(f"{self.resume}: not a complete checkpoint")
            return self.resume
        latest = self.checkpoints.get_latest_checkpoint()
        log = Path(self.config.output_dir) / LOG_FILE
        if latest is None:
            logger.warning("--resume: no complete checkpoint in %s; starting from scratch", self.config.output_dir)
            trim_log(log, 0)  # the killed run's rows would precede this run's steps 1, 2, ...
        else:
            logger.info("resuming from %s", latest)
            trim_log(log, checkpoint_step(latest))  # steps after the checkpoint are trained again
        return latest

    def _check_fresh_output(self) -> None:
        """A new run must not mix its checkpoints and log with an earlier run's in ``output_dir``."""
        out = Path(self.config.output_dir)
        leftovers = [p for p in out.glob("checkpoint-*") if p.is_dir()] + [p for p in [out / LOG_FILE] if p.exists()]
        if not leftovers:
            return
        if not self.overwrite:
            raise TrainingError(
                f"{out} holds an earlier run ({leftovers[0].name}): pass --resume to continue it "
                "or --overwrite to start over"
            )
        import shutil

        for path in leftovers:
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    # -- training ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _create_trainer(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None) -> Any:
        """Build the TRL trainer (model and tokenizer already loaded)."""

    @abc.abstractmethod
    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check (and adapt) the data with the tokenizer only; raise before the model loads."""

    def train(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None = None) -> TrainingResult:
        """Preflight, load, train (resuming when asked), save the final model; return the result."""
        from transformers import PrinterCallback

        start = time.perf_counter()
        self.rows = len(train_dataset)
        warn_single_cpu_launch()
        if self._tokenizer is None:
            self.load_tokenizer()
        knows_tools = template_knows_tools(self.chat_template or self.tokenizer.chat_template)
        train_dataset = self.preflight(fold_tools(train_dataset, knows_tools))
        self.warn_short_run(len(train_dataset))
        if eval_dataset is not None:
            try:
                eval_dataset = self.preflight(fold_tools(eval_dataset, knows_tools))
            except PreflightError as exc:  # an unusable eval set must not stop the training
                logger.warning("evaluation set: %s; training without evaluation", exc)
                eval_dataset = None
        if hasattr(self, "_get_training_args"):
            self._get_training_args(eval_dataset is not None)  # TRL's own checks, before the model loads
        resume_from = self.resume_checkpoint()
        if self._model is None:
            self.load_model()
        self.trainer = self._create_trainer(train_dataset, eval_dataset)
        self.trainer.remove_callback(PrinterCallback)  # our progress bar and JSONL log replace it
        if resume_from is not None and _processes() > 1 and getattr(self.trainer.args, "use_cpu", False):
            _load_optimizer_on_cpu(self.trainer)
        output = self.trainer.train(resume_from_checkpoint=resume_from)
        metrics = {**last_method_metrics(self.trainer.state.log_history), **output.metrics}
        loss = float(output.training_loss)
        if resume_from is not None:
            # transformers divides the resumed session's loss sum by every step of the run
            loss = mean_logged_loss(self.trainer.state.log_history) or loss
            metrics["train_loss"] = loss
        if eval_dataset is not None:
            metrics.update(self.trainer.evaluate())
        self.checkpoints.cleanup_old_checkpoints()
        self.save(self.config.output_dir)
        result = TrainingResult(
            loss=loss,
            metrics=add_perplexity(metrics),
            output_dir=self.config.output_dir,
            training_time=time.perf_counter() - start,
            global_step=int(self.trainer.state.global_step),
        )
        self._write_summary(result)
        return result

    @classmethod
    def merge_adapter(cls, adapter_dir: str, output_dir: str, base_model: str | None = None) -> Path:
        """Merge a LoRA adapter this trainer saved into its base model: an ordinary model
        directory at ``output_dir`` (the ``merge`` stage of ``largeforge forge``)."""
        from largeforge_train.lora import merge_lora

        return merge_lora(base_model, adapter_dir, output_dir)

    def save(self, output_dir: str) -> None:
        """Save the model — the adapter alone (PEFT layout) under LoRA — and the tokenizer."""
        if self.trainer is None:
            raise TrainingError("nothing to save: train() has not run")
        self.trainer.save_model(output_dir)
        if self.trainer.is_world_process_zero():
            from largeforge_train.lora import name_base_portably

            name_base_portably(output_dir)
        if self._tokenizer is not None and self.trainer.is_world_process_zero():
            self._tokenizer.save_pretrained(output_dir)

    def _write_summary(self, result: TrainingResult) -> None:
        if not self.trainer.is_world_process_zero():
            return
        from largeforge.utils.io import save_json

        save_json(
            {
                "method": self.method,
                "base_model": self.model_name,
                "lora": self.lora_config is not None,
                "rows": self.rows,
                "loss": result.loss,
                "global_step": result.global_step,
                "training_time": result.training_time,
                "metrics": result.metrics,
                "config": self.config.to_dict(),
            },
            Path(result.output_dir) / "largeforge_training.json",
        )


def _processes() -> int:
    from largeforge_train.run_length import processes

    return processes()


def _load_optimizer_on_cpu(trainer: Any) -> None:
    """Resuming several CPU processes: transformers loads the optimizer state onto ``args.device``,
    ``cpu:0`` under DDP on a CPU, where ``torch.load`` cannot restore ("don't know how to restore
    data location ... cpu:0"). Load it onto the CPU instead, for that one call."""
    import torch

    original = trainer._load_optimizer_and_scheduler
    real_load = torch.load

    def cpu_load(*args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("map_location", "")).startswith("cpu:"):
            kwargs["map_location"] = "cpu"
        return real_load(*args, **kwargs)

    def load(checkpoint: Any) -> Any:
        torch.load = cpu_load
        try:
            return original(checkpoint)
        finally:
            torch.load = real_load

    trainer._load_optimizer_and_scheduler = load


def warn_single_cpu_launch() -> str | None:
    """Warn when ``accelerate launch --cpu --num_processes N`` (N > 1) started this one process:
    accelerate 1.x starts several CPU processes only through mpirun, so the run would silently
    be a single-process one. Returns the warning (``None`` when there is nothing to say)."""
    import os
    import re

    if os.environ.get("ACCELERATE_USE_CPU", "").lower() != "true" or _processes() > 1:
        return None
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    match = re.search(r"--num_processes[ =](\d+)", parent)
    if "accelerate" not in parent or not match or int(match.group(1)) < 2:
        return None
    message = (
        f"accelerate launch --cpu --num_processes {match.group(1)} started one process (accelerate runs "
        f"several CPU processes only through mpirun): on a CPU use `accelerate launch --multi_gpu "
        f"--num_processes {match.group(1)}`, which LargeForge trains over gloo"
    )
    _warn_once(message)
    return message


def checkpoint_step(checkpoint: str | Path) -> int:
    """The global step of a ``checkpoint-N`` folder."""
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def trim_log(path: Path, last_step: int) -> None:
    """Drop the rows of the JSONL log at ``path`` after ``last_step`` (all rows for 0)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= last_step]
    if len(kept) != len(rows):
        from largeforge.utils.io import atomic_write

        atomic_write(path, "".join(f"{line}\n" for line in kept))


def mean_logged_loss(log_history: list[dict[str, Any]]) -> float | None:
    """The run's mean training loss from its logged ``loss`` values, each weighing the steps
    since the previous log (the whole run's, checkpointed history included); None without any."""
    total = steps = 0.0
    previous = 0
    for entry in log_history:
        if "loss" not in entry or "step" not in entry:
            continue
        span = max(int(entry["step"]) - previous, 0)
        total += float(entry["loss"]) * span
        steps += span
        previous = int(entry["step"])
    return total / steps if steps else None


#: Logged metrics of a method's own signal, kept in the result from the last training log (TRL
#: averages them over each logging window and leaves them out of the end-of-training summary).
METHOD_METRIC_PREFIXES = ("rewards/", "logps/", "logits/")
METHOD_METRIC_NAMES = frozenset({"kl", "nll_loss", "log_odds_ratio", "log_odds_chosen", "reward", "reward_std"})


def last_method_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The method's metrics (reward margins, KL, ...) of the last training log entry."""
    last: dict[str, Any] = next((entry for entry in reversed(log_history) if "loss" in entry), {})
    return {
        k: float(v)
        for k, v in last.items()
        if isinstance(v, int | float) and (k in METHOD_METRIC_NAMES or k.startswith(METHOD_METRIC_PREFIXES))
    }


def read_log(output_dir: str | Path) -> list[dict[str, Any]]:
    """The JSONL training log of a run, one dict per log event."""
    path = Path(output_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
