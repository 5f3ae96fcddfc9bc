"""Serve fixtures: a loaded tiny-model engine shared by the module, and real servers on
127.0.0.1 with ports chosen by the OS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.serve_testing import running_server


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir: Path) -> Iterator[Any]:
    """A loaded TransformersEngine over the tiny model (4 slots, queue of 16)."""
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(tiny_model_dir), max_batch_size=4, max_queue=16, threads=1)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def server_factory() -> Callable[..., Any]:
    return running_server


@pytest.fixture(scope="module")
def tiny_server(tiny_engine: Any) -> Iterator[Any]:
    """A server for the tiny engine without an API key, serving model ``tiny``."""
    with running_server(tiny_engine) as server:
        yield server
