"""Dataset registries in LLaMA-Factory's ``dataset_info.json`` form, read unchanged.

Each entry names a dataset: where it is (``file_name`` relative to the registry, or
``hf_hub_url`` with ``subset``/``folder``/``split``), its ``formatting`` (``alpaca``, the default,
or ``sharegpt``), whether it holds preference pairs (``ranking``), its ``columns`` (``prompt``,
``query``, ``response``, ``history``, ``messages``, ``system``, ``tools``, ``chosen``, ``rejected``,
``kto_tag``) and, for ShareGPT, its message ``tags`` (``role_tag``, ``content_tag``, ``user_tag``,
``assistant_tag``, ``observation_tag``, ``function_tag``, ``system_tag``). An entry becomes a
location, a LargeForge format and a :class:`~largeforge.data.columns.ColumnMap`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from largeforge.data.columns import ColumnMap
from largeforge.errors import DataError

FILE_NAME = "dataset_info.json"
#: Column names of each formatting → the field of LargeForge's format that reads them.
_COLUMNS = {
    "alpaca": {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "history": "history",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": "label",
    },
    "sharegpt": {
        "messages": "conversations",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": "label",
    },
}
#: ShareGPT tags → (what they rename, LargeForge's name, LLaMA-Factory's default).
_TAGS = {
    "role_tag": ("key", "from", "from"),
    "content_tag": ("key", "value", "value"),
    "user_tag": ("role", "user", "human"),
    "assistant_tag": ("role", "assistant", "gpt"),
    "observation_tag": ("role", "tool", "observation"),
    "function_tag": ("role", "function_call", "function_call"),
    "system_tag": ("role", "system", "system"),
}
_UNSUPPORTED = ("images", "videos", "audios")
_LOCATION_KEYS = ("file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass(frozen=True)
class DatasetInfoEntry:
    """One dataset of a registry: where it is, its LargeForge format and its column mapping."""

    name: str
    location: str
    format: str
    columns: ColumnMap | None


def is_dataset_info(path: str | Path) -> bool:
    """Whether ``path`` is a LLaMA-Factory registry (named ``dataset_info.json`` and listing
    entries with a ``file_name`` or a hub url; a ``datasets`` folder's file of that name is not)."""
    path = Path(path)
    if path.name != FILE_NAME or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and any(
        isinstance(v, dict) and any(k in v for k in _LOCATION_KEYS) for v in data.values()
    )


def load_dataset_info(path: str | Path) -> dict[str, DatasetInfoEntry]:
    """Every entry of a registry file, by name; a bad entry is a one-line error naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise DataError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object of dataset entries (name: {{file_name, formatting, columns}})")
    return {str(name): _entry(path, str(name), entry) for name, entry in data.items()}


def _entry(path: Path, name: str, entry: Any) -> DatasetInfoEntry:
    where = f"{path}: {name}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object with file_name or hf_hub_url")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in _COLUMNS:
        raise DataError(f"{where}: formatting {formatting!r} is not supported (alpaca or sharegpt)")
    location = _location(path, where, entry)
    columns = entry.get("columns") or {}
    tags = entry.get("tags") or {}
    if not isinstance(columns, dict) or not isinstance(tags, dict):
        raise DataError(f"{where}: columns and tags must be objects")
    mapped: dict[str, str] = {}
    for theirs, column in columns.items():
        if theirs in _UNSUPPORTED:
            raise DataError(f"{where}: columns.{theirs}: multimodal data is not supported")
        if theirs not in _COLUMNS[formatting]:
            known = ", ".join(_COLUMNS[formatting])
            raise DataError(f"{where}: columns.{theirs}: not a {formatting} column (columns are: {known})")
        if not isinstance(column, str) or not column:
            raise DataError(f"{where}: columns.{theirs}: expected a column name, got {column!r}")
        mapped[_COLUMNS[formatting][theirs]] = column
    keys: dict[str, str] = {}
    roles: dict[str, str] = {}
    if formatting == "sharegpt":
        mapped.setdefault("conversations", "conversations")
        for tag, (kind, ours, default) in _TAGS.items():
            value = tags.get(tag, default)
            if not isinstance(value, str) or not value:
                raise DataError(f"{where}: tags.{tag}: expected a name, got {value!r}")
            if value not in (ours, default):  # LargeForge reads both spellings itself
                (keys if kind == "key" else roles)[ours] = value
    elif tags:
        raise DataError(f"{where}: tags are for formatting sharegpt")
    mapped = {ours: theirs for ours, theirs in mapped.items() if ours != theirs}
    fmt = "dpo" if entry.get("ranking") else formatting
    return DatasetInfoEntry(name, location, fmt, ColumnMap(mapped, keys, roles) or None)


def _location(path: Path, where: str, entry: dict[str, Any]) -> str:
    if entry.get("hf_hub_url"):
        parts = [str(entry["hf_hub_url"]).strip("/")]
        for key in ("subset", "folder"):
            if entry.get(key):
                parts.append(str(entry[key]).strip("/"))
        return "/".join(parts) + f":{entry.get('split') or 'train'}"
    if entry.get("file_name"):
        return str(path.parent / str(entry["file_name"]))
    other = next((k for k in _LOCATION_KEYS if entry.get(k)), None)
    if other is not None:
        raise DataError(f"{where}: {other} is not supported: give file_name (a file here) or hf_hub_url")
    raise DataError(f"{where}: needs file_name (a file beside {path.name}) or hf_hub_url")
