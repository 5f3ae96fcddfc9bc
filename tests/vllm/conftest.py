"""vLLM fixtures: LoRA adapters for SmolLM2 and ONE vLLM server for the whole session.

vLLM runs from the environment ``scripts/install_vllm.sh`` made (CI runs it through
``scripts/install.sh``). Its start takes minutes on a CPU, so every test that needs a running
vLLM shares the session's server: ``largeforge serve inference --backend vllm`` with two
adapters, an API key and a small admission capacity (2 decoding + 2 waiting) so that
backpressure is reachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from largeforge_serve.engines.vllm_env import vllm_available

API_KEY = "vllm-test-key"
MODEL = "smollm2-135m-instruct"
MAX_MODEL_LEN = 1024
#: What the admission allows at once (``--max-concurrency`` + ``--max-queue``).
CAPACITY = (2, 2)

needs_vllm = pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (bash scripts/install_vllm.sh)")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, …), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def make_adapters(base: Path, root: Path) -> dict[str, Path]:
    """Two PEFT LoRA adapters with random weights (r 4), so each visibly changes the output."""
    from tests.serve.serve_testing import make_adapter

    return {"alpha": make_adapter(base, root / "alpha", 1), "beta": make_adapter(base, root / "beta", 2)}


@pytest.fixture(scope="session")
def vllm_adapters(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_adapters(smollm2_dir, tmp_path_factory.mktemp("vllm-adapters"))


@dataclass
class VLLMServer:
    url: str
    #: The processes the server started (vLLM's API server, engine core, workers).
    children: set[int]


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
