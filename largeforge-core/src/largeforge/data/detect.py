"""Detect which registered data format a file or a list of rows is in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from largeforge.contracts import DataFormat
from largeforge.errors import DataError
from largeforge.registry import Registry


def _formats(formats: Registry[DataFormat] | None) -> Registry[DataFormat]:
    if formats is not None:
        return formats
    from largeforge.plugins import registries

    return registries().formats


def detect_format(
    rows: Sequence[Any], formats: Registry[DataFormat] | None = None, *, source: str = "data"
) -> str:
    """The name of the format most rows match; ties go to the more specific signature.

    Raises :class:`DataError` explaining what the rows look like when no format matches.
    """
    registry = _formats(formats)
    dicts = [r for r in rows if isinstance(r, Mapping)]
    if not dicts:
        raise DataError(f"{source}: cannot detect the format: no rows are JSON objects")
    best: tuple[int, int, str] | None = None
    for entry in registry.entries():
        hits = sum(1 for row in dicts if entry.value.detect(row))
        if hits:
            key = (hits, len(entry.value.signature), entry.name)
            best = max(best, key) if best else key
    if best is None:
        keys = ", ".join(sorted(dicts[0].keys())) or "no keys"
        known = "; ".join(f"{e.name} ({', '.join(sorted(e.value.signature))})"
                          for e in registry.entries() if e.value.signature)
        raise DataError(
            f"{source}: unknown format: rows have keys [{keys}]; known formats: {known}; "
            "pass --format to choose one"
        )
    return best[2]


def detect_file_format(path: str | Path, formats: Registry[DataFormat] | None = None) -> str:
    """Detect the format of a JSON/JSONL file from its first rows."""
    from largeforge.data.reader import sample_rows

    return detect_format(sample_rows(path), formats, source=str(path))


def get_format(name: str, path: str | Path | None = None,
               formats: Registry[DataFormat] | None = None) -> DataFormat:
    """The registered format ``name``; ``"auto"`` detects it from ``path``."""
    registry = _formats(formats)
    if name == "auto":
        if path is None:
            raise DataError("format 'auto' needs a file to detect from")
        name = detect_file_format(path, registry)
    try:
        return registry.get(name)
    except KeyError as exc:
        raise DataError(str(exc)) from None
