"""Version information."""

from __future__ import annotations

import sys

__version__ = "0.1.0"
VERSION_INFO: tuple[int, int, int] = (0, 1, 0)
MIN_PYTHON = (3, 10)


def get_version() -> str:
    """The version string, e.g. ``"0.1.0"``."""
    return __version__


def get_version_info() -> dict[str, object]:
    """Version details: LargeForge, Python in use and the minimum Python supported."""
    return {
        "version": __version__,
        "version_info": VERSION_INFO,
        "python": sys.version.split()[0],
        "python_requires": ">=" + ".".join(map(str, MIN_PYTHON)),
    }
