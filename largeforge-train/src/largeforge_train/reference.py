"""Trainers that compare the policy with a reference model (DPO, KTO): a separate model when one is
given, else TRL's own (the model with its LoRA adapter disabled, or a frozen copy)."""

from __future__ import annotations

from typing import Any

from largeforge.config import LoRAConfig, TrainingConfig
from largeforge.models import resolve_model
from largeforge_train.base import BaseTrainer
from largeforge_train.lora import is_adapter_dir, load_merged


class ReferenceModelTrainer(BaseTrainer):
    """A trainer with an optional separate reference model (``ref_model``: a model reference or
    an adapter directory), handed to TRL's trainer."""

    def __init__(
        self,
        model_name: str,
        config: TrainingConfig,
        lora_config: LoRAConfig | None = None,
        ref_model: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model_name, config, lora_config, **options)
        self.ref_model_name = ref_model

    def trainer_options(self) -> dict[str, Any]:
        """The separate reference model, when one was given."""
        return {"ref_model": load_reference_model(self.ref_model_name, self.dtype)}


def load_reference_model(name: str | None, dtype: Any) -> Any:
    """A separate reference model (``None`` without one): a model reference, or an adapter
    directory merged into its base."""
    if name is None:
        return None
    from transformers import AutoModelForCausalLM  # heavy: only when a trainer runs

    if is_adapter_dir(name):
        return load_merged(name, torch_dtype=dtype)
    return AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=dtype)
