"""Which inference backend ``auto`` means for a model on this machine.

Every backend registered through ``register_backends`` ranks itself for a model with the
classmethod :meth:`largeforge.contracts.InferenceEngine.auto_rank` (None: not a candidate here).
``auto`` is the highest rank, the first registered on a tie; a new backend joins the choice by
ranking itself, with no change here. The ranks the built-in backends give:

- ``llamacpp`` 30 for a GGUF file; 10 for any other model on a machine without a GPU where
  llama.cpp's ``llama-server`` and its converter are installed (converted once to GGUF);
- ``vllm`` 20 where vLLM is installed and a GPU is present;
- ``transformers`` 0 (everything else).

``serve inference --backend auto`` and a forge pipeline without ``serve.backend`` both ask here.
"""

from __future__ import annotations

from largeforge.errors import ConfigError
from largeforge.plugins import registries

#: A backend's rank for a model it serves as it is (a GGUF file for llama.cpp).
NATIVE = 30
#: A GPU engine on a machine with a GPU.
GPU = 20
#: A CPU engine that serves the model after a one-time conversion.
CONVERTED = 10
#: The engine that serves anything (the transformers engine).
FALLBACK = 0


def auto_ranks(model: str, *, adapters: bool = False) -> dict[str, int]:
    """Each candidate backend's rank for ``model``, in registration order (None ranks left out)."""
    ranks: dict[str, int] = {}
    for entry in registries().backends.entries():
        rank = getattr(entry.value, "auto_rank", lambda *_a, **_k: None)(model, adapters=adapters)
        if rank is not None:
            ranks[entry.name] = int(rank)
    return ranks


def auto_backend(model: str, *, adapters: bool = False) -> str:
    """The backend ``auto`` picks for ``model``; a ConfigError when no registered backend serves it."""
    ranks = auto_ranks(model, adapters=adapters)
    if not ranks:
        raise ConfigError(
            f"no installed inference backend can serve {model} "
            f"(install largeforge-serve: pip install 'largeforge-core[serve]')"
        )
    return max(ranks, key=lambda name: ranks[name])  # max keeps the first of equals
