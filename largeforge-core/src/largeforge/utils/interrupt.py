"""What a Ctrl+C should tell the user: a long-running command (training, forge) registers a
line saying what was kept and how to resume; ``largeforge``'s entry point prints them after
"Interrupted." (exit 130)."""

from __future__ import annotations

import sys

_hints: dict[str, str] = {}


def set_hint(key: str, text: str) -> None:
    """Register (or replace) the hint ``key``."""
    _hints[key] = text


def clear_hint(key: str) -> None:
    """Drop the hint ``key`` (its work finished)."""
    _hints.pop(key, None)


def hints() -> list[str]:
    """The registered hints, oldest first."""
    return list(_hints.values())


def command_line(*extra: str) -> str:
    """The ``largeforge`` command being run, with ``extra`` arguments appended if missing."""
    args = sys.argv[1:]
    if args[:2] == ["-m", "largeforge.cli.main"]:
        args = args[2:]
    return " ".join(["largeforge", *args, *(a for a in extra if a not in args)])
