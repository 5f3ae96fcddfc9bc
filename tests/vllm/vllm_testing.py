"""What the vLLM tests share besides their fixtures (``conftest.py``): the server's settings, the
skip marker, process helpers and the adapters they serve."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from largeforge_serve.engines.vllm_env import vllm_available
from tests.serve.serve_testing import make_adapter

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
    return {"alpha": make_adapter(base, root / "alpha", 1), "beta": make_adapter(base, root / "beta", 2)}


@dataclass
class VLLMServer:
    url: str
    #: The processes the server started (vLLM's API server, engine core, workers).
    children: set[int]
