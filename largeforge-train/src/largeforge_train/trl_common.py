"""What every method's TRL config shares: the TrainingArguments fields mapped from a
:class:`TrainingConfig` (precision that follows the device, ``warmup_ratio``, logging
integrations that are installed), and building a TRL class named by its dotted path."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from largeforge.config import TrainingConfig
from largeforge.errors import ConfigError
from largeforge.utils.logging import get_logger
from largeforge_train.distributed import processes
from largeforge_train.precision import resolve_precision

logger = get_logger(__name__)
#: report_to integrations that need a package: name → (modules, any of which works; extra to install)
INTEGRATIONS = {"wandb": (("wandb",), "wandb"), "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard")}


def import_object(path: str) -> Any:
    """The object at a dotted path (``trl.SFTConfig``), imported on use: TRL is heavy."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def report_to(config: TrainingConfig) -> list[str]:
    """``report_to`` as a list (the config takes one name or several)."""
    value = config.report_to
    names = [value] if isinstance(value, str) else list(value)
    return [] if names == ["none"] else names


def integration_available(name: str) -> bool:
    """Whether the package a ``report_to`` integration needs is installed (a warning naming the extra if not)."""
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


def common_args(config: TrainingConfig, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments fields shared by every TRL config, mapped from :class:`TrainingConfig`."""
    import torch  # heavy: only when a trainer runs

    c = config
    bf16, fp16 = resolve_precision(c)
    reports = [r for r in report_to(c) if r not in INTEGRATIONS or integration_available(r)]
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
        "report_to": reports or "none",
        "disable_tqdm": True,
        "dataloader_pin_memory": torch.cuda.is_available(),
        # Several processes without CUDA (accelerate launch --multi_gpu / torchrun on a CPU):
        # DDP over gloo. transformers would otherwise run each process alone on the same data.
        "use_cpu": processes() > 1 and not torch.cuda.is_available(),
    }


def build_trl_config(
    class_path: str, method: str, common: dict[str, Any], specific: dict[str, Any], trl_args: dict[str, Any]
) -> Any:
    """The TRL config at ``class_path``: ``common`` fields, then the method's ``specific`` ones, then
    the pass-through ``trl_args`` (which may override a common default such as ``warmup_steps``,
    never a field the method derives from its own settings: that is a one-line error)."""
    clash = sorted(set(specific) & set(trl_args))
    if clash:
        raise ConfigError(
            f"{clash[0]}: LargeForge sets this field of {class_path} for {method} from its own settings; leave it out"
        )
    try:
        return import_object(class_path)(**{**common, **specific, **trl_args})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{class_path}: {' '.join(str(exc).split())}") from None
