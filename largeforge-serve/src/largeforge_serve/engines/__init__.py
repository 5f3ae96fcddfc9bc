"""Inference engines and the backend factory (spec 4.4).

Engines are registered with the core through ``register_backends``; :func:`get_backend` picks
one by name. ``auto`` asks every registered engine how well it suits the model
(:func:`largeforge.backends.auto_backend`): llama.cpp for a GGUF file, and on a machine without
a GPU for any model it can convert; vLLM where it is installed and CUDA is present; else
transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from largeforge.backends import auto_backend
from largeforge.config import InferenceConfig
from largeforge.contracts import InferenceEngine
from largeforge.errors import ConfigError
from largeforge.plugins import registries
from largeforge.utils.logging import get_logger
from largeforge_serve.engines.gguf_files import is_gguf
from largeforge_serve.engines.llamacpp import INSTALL_HINT as LLAMACPP_HINT
from largeforge_serve.engines.llamacpp import llamacpp_available
from largeforge_serve.engines.vllm_env import INSTALL_HINT as VLLM_HINT
from largeforge_serve.engines.vllm_env import vllm_available
from largeforge_serve.engines.vllm_server import VLLMServerEngine

log = get_logger(__name__)


def is_vllm_available() -> bool:
    """vLLM is installed (its own environment or this one) and a CUDA device is present: what
    ``auto`` needs to pick vLLM. ``--backend vllm`` runs it on a CPU too."""
    return VLLMServerEngine.auto_rank("") is not None


def _is_gguf_file(path: str | None) -> bool:
    return bool(path) and is_gguf(Path(str(path)).expanduser())  # False for directories and missing files


def select_backend_name(config: InferenceConfig, *, adapters: bool = False) -> str:
    """``config.backend`` with ``auto`` resolved for ``config.model_path`` (``adapters``: LoRA
    adapters are served on it); a ConfigError when the backend asked for is not installed."""
    if config.backend == "auto" and not (_is_gguf_file(config.model_path) and not llamacpp_available()):
        return auto_backend(str(config.model_path), adapters=adapters)
    if config.backend in ("auto", "llamacpp") and not llamacpp_available():  # auto: a GGUF file
        raise ConfigError(f"backend 'llamacpp' needs llama.cpp's llama-server: {LLAMACPP_HINT}")
    if config.backend == "vllm" and not vllm_available():
        raise ConfigError(f"backend 'vllm' needs vLLM, which was not found: {VLLM_HINT}")
    return config.backend


def get_backend(config: InferenceConfig, **options: Any) -> InferenceEngine:
    """An engine (not yet loaded) for ``config.model_path`` from the backend registry.

    ``options`` go to the engine's constructor (``adapters``, ``max_batch_size``, ``max_queue``).
    """
    if not config.model_path:
        raise ConfigError("model_path is required to start an inference backend")
    name = select_backend_name(config, adapters=bool(options.get("adapters")))
    engine_class = registries().backends.get(name)
    log.info("inference backend: %s (requested %s)", name, config.backend)
    engine: InferenceEngine = engine_class(config.model_path, config, **options)
    return engine
