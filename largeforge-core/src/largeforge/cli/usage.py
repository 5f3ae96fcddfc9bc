"""Usage errors (unknown command or option, bad value) as one line and exit code 2.

Typer 0.29 bundles its own copy of click (``typer._click``), whose exceptions are not
``click.ClickException``: both are recognised, whichever typer is installed. An unknown
command that a sibling distribution provides names the distribution to install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from typing import Any

#: top-level command → the extra of largeforge-core (and distribution) that provides it
SIBLING_COMMANDS = {"train": "train", "serve": "serve", "router": "router", "quant": "quant"}
_NO_SUCH_COMMAND = re.compile(r"No such command '([^']+)'")


def click_exception_types() -> tuple[type[BaseException], ...]:
    """``ClickException`` of click and of the click that typer bundles, where importable."""
    types: list[type[BaseException]] = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            types.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_command_message(command: str) -> str | None:
    """What to say when ``command`` is not registered but a sibling distribution provides it."""
    extra = SIBLING_COMMANDS.get(command)
    if extra is None:
        return None
    dist = f"largeforge-{extra}"
    if _installed(dist):
        return f"'{command}' comes from {dist}, which is installed but did not load (see 'largeforge plugins')"
    return f"'{command}' needs {dist}, which is not installed: pip install \"largeforge-core[{extra}]\""


def usage_error_line(exc: Any) -> str:
    """One line for a click/typer exception: the message, and where to look for help."""
    message = exc.format_message()
    match = _NO_SUCH_COMMAND.search(message)
    ctx = getattr(exc, "ctx", None)
    if match and (ctx is None or ctx.parent is None):
        hint = missing_command_message(match.group(1))
        if hint is not None:
            return hint
    if ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return str(message)
