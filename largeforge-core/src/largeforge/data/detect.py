"""Detect which registered data format a file or a list of rows is in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from largeforge.contracts import DataFormat
from largeforge.data.rows import sample_rows
from largeforge.errors import DataError
from largeforge.registry import Registry


def _formats(formats: Registry[DataFormat] | None) -> Registry[DataFormat]:
    if formats is not None:
        return formats
    from largeforge.plugins import registries

    return registries().formats


def detect_format(rows: Sequence[Any], formats: Registry[DataFormat] | None = None, *, source: str = "data") -> str:
    """The name of the format most rows match; ties go to the more specific signature.

    Raises :class:`DataError` explaining what the rows look like when no format matches.
    """
    registry = _formats(formats)
    dicts = [r for r in rows if isinstance(r, Mapping)]
    if not dicts:
        raise DataError(f"{source}: cannot detect the format: no rows are objects (records of named fields)")
    best: tuple[int, int, str] | None = None
    for entry in registry.entries():
        hits = sum(1 for row in dicts if entry.value.detect(row))
        if hits:
            key = (hits, len(entry.value.signature), entry.name)
            best = max(best, key) if best else key
    if best is None:
        raise DataError(_no_format(dicts[0], registry, source))
    return best[2]


def _no_format(row: Mapping[str, Any], registry: Registry[DataFormat], source: str) -> str:
    """Why no format fits ``row``: the closest layout and the fields it lacks, or every layout."""
    keys = ", ".join(sorted(row.keys())) or "no keys"
    scored = [
        (len(e.value.signature & row.keys()), -len(e.value.signature - row.keys()), e.name, e.value)
        for e in registry.entries()
        if e.value.signature
    ]
    overlap, _, name, closest = max(scored, default=(0, 0, "", None))
    if closest is not None and overlap:
        missing = sorted(closest.signature - row.keys())
        return (
            f"{source}: rows look like {name} but have no {' or '.join(missing)} field (rows have keys "
            f"[{keys}]); name the column that holds it with --columns {missing[0]}=<column>, or pass --format"
        )
    known = "; ".join(
        f"{e.name} ({', '.join(sorted(e.value.signature))})" for e in registry.entries() if e.value.signature
    )
    return (
        f"{source}: unknown format: rows have keys [{keys}]; known formats: {known}; map your columns "
        "with --columns (e.g. instruction=question,output=answer) or pass --format to choose one"
    )


def detect_file_format(path: Any, formats: Registry[DataFormat] | None = None) -> str:
    """Detect the format of a data source (a path or a :class:`~largeforge.data.source.DataSource`)
    from its first rows."""
    return detect_format(sample_rows(path), formats, source=str(path))


def get_format(name: str, path: Any = None, formats: Registry[DataFormat] | None = None) -> DataFormat:
    """The registered format ``name``; ``"auto"`` takes the format a registry entry names, or
    detects it from ``path`` (a path or a data source)."""
    registry = _formats(formats)
    if name == "auto":
        if path is None:
            raise DataError("format 'auto' needs a file to detect from")
        named = getattr(path, "format", "auto")
        name = named if named != "auto" else detect_file_format(path, registry)
    try:
        return registry.get(name)
    except KeyError as exc:
        raise DataError(str(exc)) from None


def format_fields(formats: Registry[DataFormat] | None = None) -> set[str]:
    """Every column a registered format reads (what a column mapping may name)."""
    return {
        f.encode_name for entry in _formats(formats).entries() for f in msgspec.structs.fields(entry.value.row_type)
    }
