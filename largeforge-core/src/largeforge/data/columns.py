"""Column mappings: where the fields of a layout are in someone's data.

``instruction=question,output=answer`` reads the ``question`` column as ``instruction`` and
``answer`` as ``output``; ``role=speaker,content=text`` renames the keys of every message (in
``conversations``, ``messages``, ``prompt``, ``completion``, ``chosen``, ``rejected``), and
``user_tag=customer`` reads the role value ``customer`` as ``user``. LLaMA-Factory's names are
understood too (``query``, ``response``, ``kto_tag``, ``role_tag``, ``content_tag``,
``assistant_tag``, ``observation_tag``, ``function_tag``, ``system_tag``), so a ``dataset_info.json``
entry and a command line say the same thing. A mapping is applied to each plain row before the
format reads it; columns it does not name pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from largeforge.errors import DataError

#: Fields that hold messages (a list of them, or one: ShareGPT-style chosen/rejected).
MESSAGE_FIELDS = ("conversations", "messages", "prompt", "completion", "chosen", "rejected")
#: Names that rename message keys: ours → the key a message uses for it.
KEY_NAMES = {
    "role": "role",
    "content": "content",
    "from": "from",
    "value": "value",
    "role_tag": "role",
    "content_tag": "content",
}
#: LLaMA-Factory's role tags → the role they name.
ROLE_TAGS = {
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
    "observation_tag": "tool",
    "function_tag": "function_call",
}
#: LLaMA-Factory's column names that differ from ours.
COLUMN_ALIASES = {"query": "input", "response": "output", "kto_tag": "label"}


@dataclass(frozen=True)
class ColumnMap:
    """Our names → the names in the data: ``columns`` of a row, ``keys`` of a message, and role
    ``roles`` values (``{"user": "customer"}``)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.columns or self.keys or self.roles)

    def describe(self) -> str:
        """The mapping in the command-line spelling (``instruction=question,role=speaker``)."""
        tags = {role: tag for tag, role in ROLE_TAGS.items()}
        pairs = [*self.columns.items(), *self.keys.items(), *((tags[r], v) for r, v in self.roles.items())]
        return ",".join(f"{ours}={theirs}" for ours, theirs in pairs)

    def apply(self, row: Any) -> Any:
        """``row`` with the mapped columns, message keys and role values under our names."""
        if not isinstance(row, dict):
            return row
        out = row
        if self.columns:
            theirs = set(self.columns.values())
            out = {key: value for key, value in row.items() if key not in theirs}
            for ours, name in self.columns.items():
                if name in row:
                    out[ours] = row[name]
        if self.keys or self.roles:
            out = dict(out)
            for name in MESSAGE_FIELDS:
                value = out.get(name)
                if isinstance(value, list):
                    out[name] = [self._message(m) for m in value]
                elif isinstance(value, dict):
                    out[name] = self._message(value)
        return out

    def _message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        if self.keys:
            theirs = {name: ours for ours, name in self.keys.items()}
            message = {theirs.get(key, key): value for key, value in message.items()}
        if self.roles:
            ours_of = {name: ours for ours, name in self.roles.items()}
            for key in ("role", "from"):
                if key in message and message[key] in ours_of:
                    message = {**message, key: ours_of[message[key]]}
        return message

    def merged(self, other: ColumnMap | None) -> ColumnMap:
        """This mapping with ``other``'s entries over it."""
        if not other:
            return self
        return ColumnMap({**self.columns, **other.columns}, {**self.keys, **other.keys}, {**self.roles, **other.roles})

    @classmethod
    def parse(
        cls, spec: str | Mapping[str, Any] | None, *, fields: Iterable[str] = (), where: str = "--columns"
    ) -> ColumnMap | None:
        """A mapping from ``name=column,…`` text or a ``{name: column}`` mapping (``None`` when
        empty). ``fields`` are the field names a mapping may name (the registered formats');
        any other name is a one-line error listing them."""
        if spec is None:
            return None
        pairs: list[tuple[str, Any]]
        if isinstance(spec, str):
            pairs = []
            for item in (part.strip() for part in spec.split(",")):
                if not item:
                    continue
                ours, sep, theirs = item.partition("=")
                if not sep or not ours.strip() or not theirs.strip():
                    raise DataError(f"{where}: expected name=column pairs separated by commas, got {item!r}")
                pairs.append((ours.strip(), theirs.strip()))
        elif isinstance(spec, Mapping):
            pairs = list(spec.items())
        else:
            raise DataError(f"{where}: expected a mapping of field names to column names")
        known = set(fields)
        columns: dict[str, str] = {}
        keys: dict[str, str] = {}
        roles: dict[str, str] = {}
        for ours, theirs in pairs:
            if not isinstance(theirs, str) or not theirs:
                raise DataError(f"{where}: {ours}: expected a column name, got {theirs!r}")
            if ours in KEY_NAMES:
                keys[KEY_NAMES[ours]] = theirs
            elif ours in ROLE_TAGS:
                roles[ROLE_TAGS[ours]] = theirs
            elif ours in COLUMN_ALIASES:
                columns[COLUMN_ALIASES[ours]] = theirs
            elif not known or ours in known:
                columns[ours] = theirs
            else:
                names = sorted(known | set(KEY_NAMES) | set(ROLE_TAGS) | set(COLUMN_ALIASES))
                raise DataError(f"{where}: {ours!r} is not a field of any data format; names are: {', '.join(names)}")
        mapping = cls(columns, keys, roles)
        return mapping or None
