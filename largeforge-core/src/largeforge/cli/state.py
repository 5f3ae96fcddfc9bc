"""Global CLI options (``-v``, ``-q``, ``--config``) shared with every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer


@dataclass
class CLIState:
    verbose: bool = False
    quiet: bool = False
    config_path: Path | None = None

    def section(self, name: str) -> dict[str, Any]:
        """A section of the global ``--config`` file (empty when none was given)."""
        if self.config_path is None:
            return {}
        from largeforge.config import load_config_file

        data = load_config_file(self.config_path)
        value = data.get(name, {}) if isinstance(data, dict) else {}
        return value if isinstance(value, dict) else {}


def get_state(ctx: typer.Context) -> CLIState:
    """The :class:`CLIState` of the running command."""
    root = ctx.find_root()
    if not isinstance(root.obj, CLIState):
        root.obj = CLIState()
    return root.obj
