"""LargeForge train plugin: SFT, DPO, KTO, ORPO, SimPO, CPO and GRPO with LoRA over TRL, checkpoints,
merging, data generators.

Public names load lazily so that ``import largeforge_train`` (done by the plugin manager for
every CLI call) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "BaseTrainer": "largeforge_train.base",
    "TrainingResult": "largeforge_train.base",
    "SFTTrainer": "largeforge_train.sft",
    "DPOTrainer": "largeforge_train.dpo",
    "KTOTrainer": "largeforge_train.kto",
    "ORPOTrainer": "largeforge_train.cpo",
    "SimPOTrainer": "largeforge_train.cpo",
    "CPOTrainer": "largeforge_train.cpo",
    "GRPOTrainer": "largeforge_train.grpo",
    "TrainerFactory": "largeforge_train.factory",
    "get_trainer": "largeforge_train.factory",
    "CheckpointManager": "largeforge_train.checkpoints",
    "PreflightError": "largeforge_train.errors",
    "TrainingError": "largeforge_train.errors",
    "get_target_modules": "largeforge_train.lora",
    "get_recommended_config": "largeforge_train.lora",
    "get_peft_config": "largeforge_train.lora",
    "setup_lora": "largeforge_train.lora",
    "merge_lora": "largeforge_train.lora",
    "unload_lora": "largeforge_train.lora",
    "list_adapters": "largeforge_train.lora",
    "load_adapter": "largeforge_train.lora",
    "MetricsTracker": "largeforge_train.metrics",
    "compute_metrics": "largeforge_train.metrics",
    "compute_dpo_metrics": "largeforge_train.metrics",
    "SyntheticGenerator": "largeforge_train.generators",
    "PreferenceGenerator": "largeforge_train.generators",
}
__all__ = [*sorted(_EXPORTS), "DPOConfig", "LoRAConfig", "SFTConfig", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("LoRAConfig", "SFTConfig", "DPOConfig"):
        return getattr(importlib.import_module("largeforge.config"), name)
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'largeforge_train' has no attribute {name!r}")
