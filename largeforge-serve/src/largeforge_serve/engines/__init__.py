"""Inference engines and the backend factory (spec 4.4).

Engines are registered with the core through ``register_backends``; :func:`get_backend` picks
one by name (``auto``: vLLM when it is installed and CUDA is present, else transformers).
"""

from __future__ import annotations

from typing import Any

from largeforge.config import InferenceConfig
from largeforge.contracts import InferenceEngine
from largeforge.errors import ConfigError
from largeforge.utils.logging import get_logger

log = get_logger(__name__)


def is_vllm_available() -> bool:
    """vLLM is installed (its own environment or this one) and a CUDA device is present: what
    ``auto`` needs to pick vLLM. ``--backend vllm`` runs it on a CPU too."""
    from largeforge.utils.device import get_device_count
    from largeforge_serve.engines.vllm_env import vllm_available

    return vllm_available() and get_device_count() > 0


def _is_gguf_file(path: str | None) -> bool:
    from pathlib import Path

    from largeforge_serve.engines.gguf_files import is_gguf

    return bool(path) and is_gguf(Path(str(path)))  # False for directories and missing files


def select_backend_name(config: InferenceConfig) -> str:
    """``config.backend`` with ``auto`` resolved (a GGUF file → llamacpp)."""
    from largeforge_serve.engines.llamacpp import INSTALL_HINT, llamacpp_available

    if config.backend == "llamacpp" or (config.backend == "auto" and _is_gguf_file(config.model_path)):
        if not llamacpp_available():
            raise ConfigError(f"backend 'llamacpp' needs llama.cpp's llama-server: {INSTALL_HINT}")
        return "llamacpp"
    if config.backend == "auto":
        return "vllm" if is_vllm_available() else "transformers"
    if config.backend == "vllm":
        from largeforge_serve.engines.vllm_env import INSTALL_HINT as VLLM_HINT
        from largeforge_serve.engines.vllm_env import vllm_available

        if not vllm_available():
            raise ConfigError(f"backend 'vllm' needs vLLM, which was not found: {VLLM_HINT}")
    return config.backend


def get_backend(config: InferenceConfig, **options: Any) -> InferenceEngine:
    """An engine (not yet loaded) for ``config.model_path`` from the backend registry.

    ``options`` go to the engine's constructor (``adapters``, ``max_batch_size``, ``max_queue``).
    """
    from largeforge.plugins import registries

    if not config.model_path:
        raise ConfigError("model_path is required to start an inference backend")
    name = select_backend_name(config)
    engine_class = registries().backends.get(name)
    log.info("inference backend: %s (requested %s)", name, config.backend)
    engine: InferenceEngine = engine_class(config.model_path, config, **options)
    return engine
