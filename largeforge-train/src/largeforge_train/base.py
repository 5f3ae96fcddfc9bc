"""BaseTrainer: model and tokenizer loading, TRL arguments, callbacks, resume, the training loop, saving.

Subclasses only say which TRL config and trainer to build; everything shared — precision that
follows the device, the spec's ``warmup_ratio``, checkpoints that survive a kill, progress and
JSONL logging, the result summary — lives here.
"""

from __future__ import annotations

import abc
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.config import LoRAConfig, TrainingConfig
from largeforge.contracts import TrainingResult
from largeforge.data.tools import template_knows_tools
from largeforge.errors import ConfigError
from largeforge.models import resolve_model
from largeforge.utils.io import save_json
from largeforge.utils.logging import get_logger
from largeforge_train.checkpoints import CheckpointManager
from largeforge_train.distributed import load_optimizer_on_cpu, processes, warn_single_cpu_launch
from largeforge_train.errors import PreflightError, TrainingError
from largeforge_train.lora import (
    adapter_base_model,
    get_peft_config,
    is_adapter_dir,
    load_merged,
    merge_lora,
    name_base_portably,
    resolve_target_modules,
    setup_lora,
)
from largeforge_train.metrics import add_perplexity
from largeforge_train.precision import resolve_precision, torch_dtype
from largeforge_train.preflight import load_chat_template
from largeforge_train.run_dir import resume_checkpoint
from largeforge_train.run_length import short_run_warning
from largeforge_train.tool_data import fold_tools
from largeforge_train.train_log import (
    LOG_FILE,
    last_method_metrics,
    mean_logged_loss,
    read_log,
)
from largeforge_train.trl_args import check_trl_args as check_trl_fields
from largeforge_train.trl_common import build_trl_config, common_args, import_object, report_to

if TYPE_CHECKING:
    import datasets

logger = get_logger(__name__)

#: Re-exported here, where scripts and tests have imported them from.
__all__ = [
    "LOG_FILE",
    "BaseTrainer",
    "TrainingResult",
    "mean_logged_loss",
    "read_log",
    "resolve_precision",
    "warn_single_cpu_launch",
]


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
    #: TRL's trainer class (dotted path), which :meth:`_create_trainer` builds.
    trl_trainer_class: str = ""
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
        if is_adapter_dir(self.model_name):
            return Path(self.model_name)
        return resolve_model(self.model_name)

    @property
    def dtype(self) -> Any:
        """The torch dtype the weights load in (fp32 unless bf16/fp16 will actually be used)."""
        return torch_dtype(self.config)

    def load_tokenizer(self) -> Any:
        """The tokenizer, with the chosen chat template and EOS token applied."""
        from transformers import AutoTokenizer  # heavy: imported where used

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
        return resolve_model(ref)

    def load_model(self) -> Any:
        """The model in the dtype the device supports; an adapter directory is merged into its base."""
        from transformers import AutoModelForCausalLM  # heavy: imported where used

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
        return common_args(self.config, has_eval)

    @classmethod
    def check_trl_args(cls, config: TrainingConfig, source: str | None = None) -> dict[str, Any]:
        """The config's TRL pass-through fields, converted to their types; a one-line ConfigError
        (with the closest valid names) for a field ``trl_config_class`` does not have."""
        if not config.trl_args:
            return {}
        own = [f for f in type(config).__struct_fields__ if f != "trl_args"]
        if not cls.trl_config_class:
            raise ConfigError(f"{next(iter(config.trl_args))}: unknown field (allowed: {', '.join(own)})")
        return check_trl_fields(
            cls.trl_config_class, config.trl_args, own_fields=own, managed=cls.trl_managed, source=source
        )

    def training_args(self, has_eval: bool, **specific: Any) -> Any:
        """The trainer's TRL config: :meth:`common_args`, then the trainer's ``specific`` fields,
        then the pass-through fields (which may override a common default such as ``warmup_steps``
        or ``save_strategy``, never a field the trainer derives from its own settings)."""
        return build_trl_config(self.trl_config_class, self.method, self.common_args(has_eval), specific, self.trl_args)

    def trl_options(self) -> dict[str, Any]:
        """The method's own fields of its TRL config (beside :meth:`common_args`)."""
        return {}

    def _get_training_args(self, has_eval: bool = False) -> Any:
        """The method's TRL config, built before the model loads so that TRL's own checks come first."""
        return self.training_args(has_eval, **self.trl_options())

    #: Trained tokens of an example, when the preflight measured them (for :meth:`warn_short_run`).
    tokens_per_example: float | None = None

    def warn_short_run(self, rows: int) -> str | None:
        """Warn, in one line saying what to change, when ``rows`` examples make a run too short to
        learn (few optimizer steps; LoRA on attention only) — see :mod:`largeforge_train.run_length`."""
        targets = None
        if self.lora_config is not None:
            targets = resolve_target_modules(self.lora_config, str(self._model_dir()))
        warning = short_run_warning(rows, self.config, targets, self.tokens_per_example, self.method)
        if warning and os.environ.get("RANK", "0") == "0":
            logger.warning("preflight: %s", warning)
        return warning

    def report_to(self) -> list[str]:
        """``report_to`` as a list (the config takes one name or several)."""
        return report_to(self.config)

    def callbacks(self, has_eval: bool = False) -> list[Any]:
        """Checkpoint marking, the JSONL log, the progress bar, early stopping and save-best (with an
        evaluation set), then the caller's callbacks."""
        from largeforge_train.callbacks import (  # they subclass transformers' TrainerCallback: heavy
            CheckpointCallback,
            EarlyStoppingCallback,
            LoggingCallback,
            ProgressCallback,
            SaveBestModelCallback,
        )

        out = Path(self.config.output_dir)
        callbacks: list[Any] = [CheckpointCallback(self.checkpoints), LoggingCallback(out / LOG_FILE)]
        if self.progress:
            callbacks.append(ProgressCallback(f"{self.method}"))
        if has_eval and self.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(patience=self.early_stopping_patience))
        if has_eval and self.save_best:
            callbacks.append(SaveBestModelCallback(out / "best"))
        return callbacks + self.extra_callbacks

    def resume_checkpoint(self) -> str | None:
        """The checkpoint to resume from (half-written ones are discarded first), or ``None``."""
        return resume_checkpoint(self.checkpoints, self.resume, self.overwrite)

    # -- training ------------------------------------------------------------------------------

    def trl_trainer(self) -> Any:
        """TRL's trainer class for this method (``trl_trainer_class``; a method may return a subclass)."""
        return import_object(self.trl_trainer_class)

    def trainer_options(self) -> dict[str, Any]:
        """Arguments of the TRL trainer beyond those every method passes (a reference model, rewards)."""
        return {}

    def _create_trainer(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None) -> Any:
        """Build the TRL trainer (model and tokenizer already loaded) from the method's hooks:
        :meth:`trl_trainer`, :meth:`trl_options` (its config's fields) and :meth:`trainer_options`."""
        has_eval = eval_dataset is not None
        return self.trl_trainer()(
            model=self._model,
            args=self._get_training_args(has_eval),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=self.tokenizer,
            peft_config=self.peft_config(),
            callbacks=self.callbacks(has_eval),
            **self.trainer_options(),
        )

    @abc.abstractmethod
    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check (and adapt) the data with the tokenizer only; raise before the model loads."""

    def train(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None = None) -> TrainingResult:
        """Preflight, load, train (resuming when asked), save the final model; return the result."""
        from transformers import PrinterCallback  # heavy: imported where used

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
        if self.trl_config_class:
            self._get_training_args(eval_dataset is not None)  # TRL's own checks, before the model loads
        resume_from = self.resume_checkpoint()
        if self._model is None:
            self.load_model()
        self.trainer = self._create_trainer(train_dataset, eval_dataset)
        self.trainer.remove_callback(PrinterCallback)  # our progress bar and JSONL log replace it
        if resume_from is not None and processes() > 1 and getattr(self.trainer.args, "use_cpu", False):
            load_optimizer_on_cpu(self.trainer)
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
        return merge_lora(base_model, adapter_dir, output_dir)

    def save(self, output_dir: str) -> None:
        """Save the model — the adapter alone (PEFT layout) under LoRA — and the tokenizer."""
        if self.trainer is None:
            raise TrainingError("nothing to save: train() has not run")
        self.trainer.save_model(output_dir)
        if self.trainer.is_world_process_zero():
            name_base_portably(output_dir)
        if self._tokenizer is not None and self.trainer.is_world_process_zero():
            self._tokenizer.save_pretrained(output_dir)

    def _write_summary(self, result: TrainingResult) -> None:
        if not self.trainer.is_world_process_zero():
            return
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
