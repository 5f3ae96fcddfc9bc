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
