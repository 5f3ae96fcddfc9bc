"""vLLM fixtures: LoRA adapters for SmolLM2 and ONE vLLM server for the whole session.

vLLM runs from the environment ``scripts/install_vllm.sh`` made (CI runs it through
``scripts/install.sh``). Its start takes minutes on a CPU, so every test that needs a running
vLLM shares the session's server: ``largeforge serve inference --backend vllm`` with two
adapters, an API key and a small admission capacity (2 decoding + 2 waiting) so that
backpressure is reachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from largeforge_serve.engines.vllm_env import vllm_available
from tests.vllm.vllm_testing import (
    API_KEY,
    CAPACITY,
    MAX_MODEL_LEN,
    MODEL,
    VLLMServer,
    alive,
    descendants,
    make_adapters,
)


@pytest.fixture(scope="session")
def vllm_adapters(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_adapters(smollm2_dir, tmp_path_factory.mktemp("vllm-adapters"))


@pytest.fixture(scope="session")
def vllm_server(vllm_adapters: dict[str, Path]) -> Iterator[VLLMServer]:
    """``largeforge serve inference --backend vllm`` on SmolLM2 with adapters alpha and beta."""
    if not vllm_available():
        pytest.skip("vLLM is not installed (bash scripts/install_vllm.sh)")
    from largeforge_serve.launch import ServerProcess

    args = [
        "--backend",
        "vllm",
        "--model",
        MODEL,
        "--api-key",
        API_KEY,
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--max-concurrency",
        str(CAPACITY[0]),
        "--max-queue",
        str(CAPACITY[1]),
        *(a for name, path in vllm_adapters.items() for a in ("--adapter", f"{name}={path}")),
    ]
    proc = ServerProcess(args, timeout=1500)
    url = proc.start()
    assert proc.proc is not None
    children = descendants(proc.proc.pid)
    try:
        yield VLLMServer(url, children)
    finally:
        proc.stop()
    left = sorted(pid for pid in children if alive(pid))
    assert not left, f"vLLM processes left running after the server stopped: {left}\n{proc.output[-3000:]}"
