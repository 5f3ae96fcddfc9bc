"""Pick a trainer by method name, through the core's trainer registry."""

from __future__ import annotations

from typing import Any

from largeforge.config import LoRAConfig, TrainingConfig
from largeforge.plugins import registries
from largeforge_train.base import BaseTrainer


def get_trainer(method: str) -> type[BaseTrainer]:
    """The trainer class registered as ``method`` (``sft``, ``dpo`` or a plugin's)."""
    return registries().trainers.get(method)  # type: ignore[return-value]


class TrainerFactory:
    """``TrainerFactory.create("sft", model, {"output_dir": "out", ...})``."""

    @staticmethod
    def create(
        method: str,
        model_name: str,
        config: dict[str, Any] | TrainingConfig,
        lora_config: dict[str, Any] | LoRAConfig | None = None,
        **options: Any,
    ) -> BaseTrainer:
        """A trainer for ``method``; dict configs are validated into the method's config class."""
        trainer_cls = get_trainer(method)
        if isinstance(config, dict):
            config = trainer_cls.config_class.from_dict(config)
        if isinstance(lora_config, dict):
            lora_config = LoRAConfig.from_dict(lora_config)
        return trainer_cls(model_name, config, lora_config, **options)
