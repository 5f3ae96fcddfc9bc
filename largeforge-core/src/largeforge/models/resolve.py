"""Resolve model references through the registered model sources."""

from __future__ import annotations

from pathlib import Path

from largeforge.errors import ModelSourceError

DEFAULT_MODEL = "smollm2-135m-instruct"


def _sources():  # type: ignore[no-untyped-def]
    from largeforge.plugins import registries

    return registries().model_sources.entries()


def resolve_model(ref: str | Path) -> Path:
    """A local directory for ``ref``: an embedded alias, a local path or a hub id.

    Raises :class:`ModelSourceError` with what to do when nothing can provide it.
    """
    ref = str(ref)
    for entry in _sources():
        if entry.value.can_resolve(ref):
            return entry.value.resolve(ref)
    names = ", ".join(e.name for e in _sources())
    raise ModelSourceError(
        f"cannot resolve model {ref!r}: not an embedded alias, an existing directory or a hub id (sources: {names})"
    )


def check_model(ref: str | Path) -> None:
    """Raise :class:`ModelSourceError` when ``ref`` certainly cannot be had: no source knows it, a
    local directory is missing, or a hub id is not cached while HF_HUB_OFFLINE is set. Cheap:
    nothing is converted or downloaded (an embedded alias is prepared on first use)."""
    import os

    ref = str(ref)
    for entry in _sources():
        if not entry.value.can_resolve(ref):
            continue
        if entry.name == "local":
            entry.value.resolve(ref)  # only checks the directory
        elif entry.name == "huggingface" and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
            entry.value.resolve(ref)  # offline: the local cache only
        return
    resolve_model(ref)  # raises the message listing the sources


def pull_model(ref: str) -> Path:
    """Prepare ``ref`` ahead of time (install and convert an embedded model, fill the cache)."""
    for entry in _sources():
        if entry.value.can_resolve(ref):
            return entry.value.pull(ref)
    raise ModelSourceError(f"no model source can pull {ref!r}")
