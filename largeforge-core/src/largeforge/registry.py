"""Typed name → implementation registries that remember which plugin provided each entry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from largeforge.errors import PluginError, RegistryError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered implementation and the plugin that provided it."""

    name: str
    value: T
    provider: str


class Registry(Generic[T]):
    """A mapping from names to implementations of one kind (formats, trainers, …).

    Registering a name twice is an error that names both providers; looking up an unknown name
    raises :class:`RegistryError` listing the names that exist.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, value: T, provider: str) -> None:
        """Register ``value`` under ``name`` on behalf of plugin ``provider``."""
        if not name or not isinstance(name, str):
            raise PluginError(f"plugin {provider!r} registered a {self.kind} without a name")
        existing = self._entries.get(name)
        if existing is not None:
            raise PluginError(f"{self.kind} {name!r} is registered by both {existing.provider!r} and {provider!r}")
        self._entries[name] = Entry(name, value, provider)

    def get(self, name: str) -> T:
        """Return the implementation registered as ``name``."""
        return self.entry(name).value

    def entry(self, name: str) -> Entry[T]:
        """Return the :class:`Entry` (implementation and provider) registered as ``name``."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r} (registered: {known})") from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Registered entries, in registration order."""
        return list(self._entries.values())

    def remove_provider(self, provider: str) -> None:
        """Drop everything ``provider`` registered (used when its registration fails half-way)."""
        self._entries = {k: e for k, e in self._entries.items() if e.provider != provider}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()!r})"
