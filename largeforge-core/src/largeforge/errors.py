"""Error types with messages a user can act on.

The CLI turns every :class:`LargeForgeError` into one line on stderr and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LargeForgeError(Exception):
    """Base class of every error LargeForge raises on purpose."""


class ConfigError(LargeForgeError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(LargeForgeError, ValueError):
    """A data file cannot be read or does not fit any format."""


class PluginError(LargeForgeError):
    """A plugin failed to load or registered something twice."""


class RegistryError(LargeForgeError, KeyError):
    """An unknown name was looked up in a registry."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class ModelSourceError(LargeForgeError):
    """A model reference cannot be resolved to a local directory."""


class MissingDistributionError(LargeForgeError, ImportError):
    """A capability needs a sibling distribution that is not installed."""

    def __init__(self, what: str, distribution: str, extra: str) -> None:
        super().__init__(f'{what} needs the {distribution} distribution: pip install "largeforge-core[{extra}]"')
        self.distribution = distribution
