"""Where LargeForge keeps its caches (``LARGEFORGE_HOME``, default ``~/.cache/largeforge``)."""

from __future__ import annotations

import os
from pathlib import Path


def largeforge_home() -> Path:
    """Root of LargeForge's caches."""
    env = os.environ.get("LARGEFORGE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "largeforge"


def models_cache() -> Path:
    """Directory holding converted embedded models."""
    return largeforge_home() / "models"


#: The llama.cpp release scripts/install_llamacpp.sh installs (llama-cpp-python's version).
LLAMA_CPP_VERSION = "0.3.36"


def llama_cpp_home() -> Path:
    """Where ``scripts/install_llamacpp.sh`` puts llama.cpp's ``llama-server`` and converters.

    ``LARGEFORGE_LLAMA_CPP_DIR`` points elsewhere (a llama.cpp checkout with ``build/bin``).
    """
    env = os.environ.get("LARGEFORGE_LLAMA_CPP_DIR")
    return Path(env).expanduser() if env else largeforge_home() / "llama.cpp" / LLAMA_CPP_VERSION
