"""llama.cpp settings shared by the llama.cpp serving backend and the GGUF quantizer: where its
programs are, and whether it may repack weights.

``scripts/install_llamacpp.sh`` builds llama.cpp once into ``llama_cpp_home()``: the programs
(``llama-server``, ``llama-quantize``, ``llama-imatrix``, ``llama-perplexity``) in ``bin/``, the
shared libraries they and the Python bindings load in ``lib/``, the converters beside them.

Weight repacking lets llama.cpp move weights into its extra CPU buffer types (AVX/AMX layouts)
at load time. On a CPU with AMX, llama.cpp 0.3.36's AMX path crashed the process (segfault in
decode, bindings and ``llama-server`` alike) on the 2-core development machine; with repacking
off the same models run. So repacking is off on AMX CPUs unless ``LARGEFORGE_LLAMA_REPACK=1``
(and can be forced off anywhere with ``LARGEFORGE_LLAMA_REPACK=0``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from largeforge.models.paths import llama_cpp_home

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


def find_binary(name: str) -> Path | None:
    """llama.cpp's program ``name`` (``llama-server``, ``llama-quantize``, …): the one
    install_llamacpp.sh built (or ``build/bin`` of a ``LARGEFORGE_LLAMA_CPP_DIR`` checkout), then
    ``PATH``; None when there is none."""
    home = llama_cpp_home()
    for candidate in (home / "bin" / name, home / "build" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def find_converter(name: str = "convert_hf_to_gguf.py") -> Path | None:
    """llama.cpp's converter script ``name`` beside the build (install_llamacpp.sh copies it), or None."""
    path = llama_cpp_home() / name
    return path if path.is_file() else None


def bindings_library_dir() -> Path | None:
    """The directory of the ``libllama`` install_llamacpp.sh built, for llama-cpp-python's
    ``LLAMA_CPP_LIB_PATH`` (the bindings are installed without a llama.cpp of their own); None
    where there is none (bindings that carry their own library)."""
    lib = llama_cpp_home() / "lib"
    return lib if any(lib.glob("libllama.*")) else None
