"""Whether a converted row still holds everything its source row held.

Each value of the source row (strings, numbers, booleans, at any depth; a string that holds
JSON counts by the values inside it) must appear in the written row: a string inside one of its
strings (an Alpaca ``input`` ends up in the user turn's text), any other value as itself. What
the layouts translate rather than carry (speaker names, part types) is left out. A conversion
that would drop something reports the row instead of writing it without.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

#: Keys whose values are a layout's vocabulary (``human``/``user``, ``text``), renamed on the way.
TRANSLATED = frozenset({"from", "role", "type"})


def _expanded(value: Any) -> Any:
    """A string holding a JSON object or array as its values; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value.rstrip()[-1:] in ("}", "]"):
        try:
            return msgspec.json.decode(value)
        except (msgspec.DecodeError, RecursionError):
            return value
    return value


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every non-empty scalar in ``value`` (``messages[2].content``)."""
    value = _expanded(value)
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in TRANSLATED:
                yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    elif value is not None and not (isinstance(value, str) and not value.strip()):
        yield path, value


def lost(source: Any, written: Any) -> list[str]:
    """Paths of the values of ``source`` that ``written`` does not hold (see the module docstring)."""
    texts: list[str] = []
    others: set[bytes] = set()
    for _, value in leaves(written):
        if isinstance(value, str):
            texts.append(value)
        else:
            others.add(msgspec.json.encode(value))
    joined = "\0".join(texts)
    missing = []
    for path, value in leaves(source):
        if isinstance(value, str):
            if value not in joined:
                missing.append(path)
        elif msgspec.json.encode(value) not in others and str(value) not in joined:
            missing.append(path)
    return missing
