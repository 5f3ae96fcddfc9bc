"""Configuration structs with bounds from the spec; load/save YAML, TOML and JSON."""

from largeforge.config.base import BaseConfig, format_validation_error, load_config_file
from largeforge.config.inference import (
    ExpertConfig,
    GenerationConfig,
    InferenceConfig,
    RouterConfig,
)
from largeforge.config.training import (
    CPOConfig,
    DPOConfig,
    GRPOConfig,
    KTOConfig,
    LoRAConfig,
    ModelConfig,
    ORPOConfig,
    SFTConfig,
    SimPOConfig,
    TrainingConfig,
)

__all__ = [
    "BaseConfig",
    "CPOConfig",
    "DPOConfig",
    "ExpertConfig",
    "GRPOConfig",
    "GenerationConfig",
    "InferenceConfig",
    "KTOConfig",
    "LoRAConfig",
    "ModelConfig",
    "ORPOConfig",
    "RouterConfig",
    "SFTConfig",
    "SimPOConfig",
    "TrainingConfig",
    "format_validation_error",
    "load_config_file",
]
