"""LargeForge: forge domain-expert language models from your data.

The core holds the plugin system, configs, data formats and the ``largeforge`` command line.
Training, serving, routing and quantization live in sibling distributions
(``largeforge-train``, ``-serve``, ``-router``, ``-quant``) found through entry points.

The spec's public names are available here lazily; using one whose distribution is missing
raises an ImportError saying what to install::

    from largeforge import SFTTrainer   # needs largeforge-core[train]
"""

from __future__ import annotations

import importlib
from typing import Any

from largeforge.hookspecs import hookimpl
from largeforge.version import __version__

#: public name → (module, attribute, distribution, extra)
_LAZY: dict[str, tuple[str, str, str, str]] = {
    "SFTTrainer": ("largeforge_train", "SFTTrainer", "largeforge-train", "train"),
    "DPOTrainer": ("largeforge_train", "DPOTrainer", "largeforge-train", "train"),
    "TransformersEngine": (
        "largeforge_serve.engines.transformers_engine",
        "TransformersEngine",
        "largeforge-serve",
        "serve",
    ),
    "Router": ("largeforge_router.router", "Router", "largeforge-router", "router"),
    "quantize": ("largeforge_quant.factory", "quantize", "largeforge-quant", "quant"),
    "InferenceEngine": ("largeforge.contracts", "InferenceEngine", "largeforge-core", "all"),
    "DatasetFactory": ("largeforge.data", "DatasetFactory", "largeforge-core", "all"),
    "resolve_model": ("largeforge.models", "resolve_model", "largeforge-core", "all"),
    "get_plugin_manager": ("largeforge.plugins", "get_plugin_manager", "largeforge-core", "all"),
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr, distribution, extra = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'largeforge' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, module_name.split(".")[0]):
            raise
        from largeforge.errors import MissingDistributionError

        raise MissingDistributionError(f"largeforge.{name}", distribution, extra) from None
    value = getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
