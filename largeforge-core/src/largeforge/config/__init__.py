"""Configuration structs with bounds from the spec; load/save YAML, TOML and JSON."""

from largeforge.config.base import BaseConfig, format_validation_error, load_config_file
from largeforge.config.inference import (
    ExpertConfig,
    GenerationConfig,
    InferenceConfig,
    RouterConfig,
)
from largeforge.config.training import (
    DPOConfig,
    LoRAConfig,
    ModelConfig,
    SFTConfig,
    TrainingConfig,
)

__all__ = [
    "BaseConfig",
    "DPOConfig",
    "ExpertConfig",
    "GenerationConfig",
    "InferenceConfig",
    "LoRAConfig",
    "ModelConfig",
    "RouterConfig",
    "SFTConfig",
    "TrainingConfig",
    "format_validation_error",
    "load_config_file",
]
