"""Inference engines and the backend factory (spec 4.4).

Engines are registered with the core through ``register_backends``; :func:`get_backend` picks
one by name (``auto``: vLLM when it imports and CUDA is present, else transformers).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from largeforge.config import InferenceConfig
from largeforge.contracts import InferenceEngine
from largeforge.errors import ConfigError
from largeforge.utils.logging import get_logger

log = get_logger(__name__)


def vllm_importable() -> bool:
    """Whether ``import vllm`` succeeds (cheap when it is not installed)."""
    if importlib.util.find_spec("vllm") is None:
        return False
    try:
        import vllm  # noqa: F401
    except Exception:  # vLLM installs can fail at import (CUDA / driver mismatches)
        return False
    return True


def is_vllm_available() -> bool:
    """vLLM imports and a CUDA device is present (spec 4.4)."""
    if not vllm_importable():
        return False
    from largeforge.utils.device import get_device_count

    return get_device_count() > 0


def _is_gguf_file(path: str | None) -> bool:
    from pathlib import Path

    from largeforge_serve.engines.gguf_files import is_gguf

    return bool(path) and Path(str(path)).is_file() and is_gguf(Path(str(path)))


def select_backend_name(config: InferenceConfig) -> str:
    """``config.backend`` with ``auto`` resolved (a GGUF file → llamacpp)."""
    from largeforge_serve.engines.llamacpp import INSTALL_HINT, llamacpp_available

    if config.backend == "llamacpp" or (config.backend == "auto" and _is_gguf_file(config.model_path)):
        if not llamacpp_available():
            raise ConfigError(f"backend 'llamacpp' needs llama.cpp's llama-server: {INSTALL_HINT}")
        return "llamacpp"
    if config.backend == "auto":
        return "vllm" if is_vllm_available() else "transformers"
    if config.backend == "vllm" and not is_vllm_available():
        raise ConfigError("backend 'vllm' needs vLLM installed (pip install 'largeforge-serve[vllm]') "
                          "and a CUDA GPU; use --backend transformers on this machine")
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
