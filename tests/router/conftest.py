"""Fixtures for router tests: real stub experts on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from router_testing import ExpertServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "router"


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
