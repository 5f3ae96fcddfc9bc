"""llama.cpp settings shared by the llama.cpp serving backend and the GGUF quantizer.

Weight repacking lets llama.cpp move weights into its extra CPU buffer types (AVX/AMX layouts)
at load time. On a CPU with AMX, llama.cpp 0.3.36's AMX path crashed the process (segfault in
decode, bindings and ``llama-server`` alike) on the 2-core development machine; with repacking
off the same models run. So repacking is off on AMX CPUs unless ``LARGEFORGE_LLAMA_REPACK=1``
(and can be forced off anywhere with ``LARGEFORGE_LLAMA_REPACK=0``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPACK_ENV = "LARGEFORGE_LLAMA_REPACK"
_OFF = {"0", "false", "no", "off"}


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU reports Intel AMX tiles (``amx_tile`` among its flags); False if unknown."""
    try:
        return "amx_tile" in cpuinfo.read_text(errors="replace").split()
    except OSError:
        return False


def weight_repacking() -> bool:
    """Whether llama.cpp may repack weights: ``LARGEFORGE_LLAMA_REPACK`` if set, else not on AMX CPUs."""
    value = os.environ.get(REPACK_ENV, "").strip().lower()
    if value:
        return value not in _OFF
    return not cpu_has_amx()


def repack_args() -> list[str]:
    """The llama.cpp command-line arguments for :func:`weight_repacking` (``llama-server``,
    ``llama-imatrix``): ``["--no-repack"]`` when it is off, else none."""
    return [] if weight_repacking() else ["--no-repack"]
