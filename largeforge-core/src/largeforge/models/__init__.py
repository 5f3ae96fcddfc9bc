"""Model sources: resolve a model reference (embedded alias, local path, hub id) to a local
directory. Nothing is downloaded implicitly when the hub is unreachable or offline."""

from largeforge.models.resolve import DEFAULT_MODEL, check_model, pull_model, resolve_model

__all__ = ["DEFAULT_MODEL", "check_model", "pull_model", "resolve_model"]
