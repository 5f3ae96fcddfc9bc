"""Data sources: a location (a file, a ``datasets`` folder, a hub id, ``-``), the reader that reads
it, and how its columns map onto a layout.

Every data command and trainer opens its input through :func:`open_source`, so a Parquet file, a
CSV export or a ``dataset_info.json`` entry reaches the same formats and validators as JSON does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.data.columns import ColumnMap
from largeforge.data.dataset_info import load_dataset_info
from largeforge.data.inputs import STDIN, head, is_stream
from largeforge.errors import DataError
from largeforge.plugins import registries

if TYPE_CHECKING:
    from largeforge.contracts import DataReader
    from largeforge.registry import Registry


@dataclass(frozen=True)
class DataSource:
    """Where rows come from and how to read them. ``format`` is the layout a registry entry
    names (``auto``: detect it); ``name`` the entry's name when it came from one."""

    location: str
    reader: DataReader
    columns: ColumnMap | None = None
    format: str = "auto"
    name: str | None = None

    def __str__(self) -> str:
        return self.location

    @property
    def json_fast_path(self) -> bool:
        """Whether rows can be decoded straight from the file's JSON bytes (no mapping to apply)."""
        return self.reader.json_text and not self.columns

    def local_path(self) -> Path:
        """The local file or folder the rows are read from."""
        return self.reader.local_path(self.location)


def _readers(readers: Registry[DataReader] | None) -> Registry[DataReader]:
    if readers is not None:
        return readers
    return registries().readers


def reader_for(location: str, readers: Registry[DataReader] | None = None) -> DataReader:
    """The registered reader for ``location``: the first that claims it (by suffix, or a look at a
    folder or an id), else the one whose signature the file's first bytes carry, else JSON.

    A missing path is a one-line error, unless a reader claims it (a hub id)."""
    registry = _readers(readers)
    path = Path(location)
    stream = location == STDIN or is_stream(location)
    claimed = [e.value for e in registry.entries() if not stream and e.value.claims(location)]
    if not stream and not path.exists():
        # only a reader of things that are not files (a hub id) may claim a missing path
        located = [reader for reader in claimed if not reader.suffixes]
        if located:
            return located[0]
        raise DataError(f"{location}: file not found")
    if claimed:
        return claimed[0]
    if path.is_dir():
        raise DataError(
            f"{location}: is a directory without data files (.json, .jsonl, .parquet, .csv, .arrow) and not a "
            "`datasets` save_to_disk folder (no state.json or dataset_dict.json)"
        )
    first = head(location)
    for entry in registry.entries():
        if entry.value.sniff(first):
            return entry.value
    return registry.get("json")


def open_source(
    location: str | Path | DataSource,
    *,
    columns: ColumnMap | None = None,
    format: str = "auto",
    dataset_info: str | Path | None = None,
) -> DataSource:
    """The :class:`DataSource` for ``location``. With ``dataset_info`` (a LLaMA-Factory style
    registry), a name it lists opens that entry (its file, format and columns; ``columns`` given
    here override the entry's)."""
    if isinstance(location, DataSource):
        if not columns and format == "auto":
            return location
        return DataSource(
            location.location,
            location.reader,
            (location.columns or ColumnMap()).merged(columns) or None,
            format if format != "auto" else location.format,
            location.name,
        )
    text = str(location)
    if dataset_info is not None:
        entries = load_dataset_info(dataset_info)
        if text in entries:
            entry = entries[text]
            return open_source(
                DataSource(entry.location, reader_for(entry.location), entry.columns, entry.format, entry.name),
                columns=columns,
                format=format,
            )
        if not Path(text).exists():
            known = ", ".join(sorted(entries)) or "none"
            raise DataError(f"{text}: no such file, and not a dataset of {dataset_info} (it lists: {known})")
    return DataSource(text, reader_for(text), columns or None, format)


def as_source(value: Any) -> DataSource:
    """``value`` as a :class:`DataSource` (a path or location string is opened)."""
    return value if isinstance(value, DataSource) else open_source(value)


def source_config(source: DataSource) -> dict[str, Any]:
    """``source`` as plain values, to keep in a config (a pipeline stage's) and reopen with
    :func:`source_from_config`."""
    mapping = source.columns
    columns = (
        {"columns": dict(mapping.columns), "keys": dict(mapping.keys), "roles": dict(mapping.roles)}
        if mapping
        else None
    )
    return {"location": source.location, "format": source.format, "name": source.name, "columns": columns}


def source_from_config(config: dict[str, Any]) -> DataSource:
    """The :class:`DataSource` that :func:`source_config` described."""
    columns = ColumnMap(**config["columns"]) if config.get("columns") else None
    location = str(config["location"])
    return DataSource(location, reader_for(location), columns, config.get("format", "auto"), config.get("name"))
