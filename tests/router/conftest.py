"""Fixtures for router tests: real stub experts on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from .router_testing import ExpertServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "router"


@pytest.fixture(autouse=True)
def _reset_cli_logging() -> Iterator[None]:
    """CLI tests call ``configure_logging``, which stops the ``largeforge`` logger propagating
    and binds a handler to that test's captured stderr; undo it so later tests (``caplog``)
    see records and nothing writes to a closed stream."""
    yield
    import logging

    root = logging.getLogger("largeforge")
    for handler in list(root.handlers):
        if getattr(handler, "_largeforge", False):
            root.removeHandler(handler)
    root.propagate = True
    root.setLevel(logging.NOTSET)


@pytest.fixture()
def experts() -> Iterator[dict[str, ExpertServer]]:
    """Three running stub experts: code, math and general."""
    servers = {name: ExpertServer(name) for name in ("code", "math", "general")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
