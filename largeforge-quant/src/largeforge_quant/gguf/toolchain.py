"""Where llama.cpp's converters, programs and Python bindings are, and how they are run.

``scripts/install_llamacpp.sh`` builds llama.cpp once: its programs, the shared library the
bindings load, and the converters beside them (see :mod:`largeforge.utils.llamacpp`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from largeforge.errors import ConfigError, LargeForgeError
from largeforge.models.paths import llama_cpp_home
from largeforge.utils.llamacpp import bindings_library_dir, find_binary, find_converter

SETUP_HINT = "run `bash scripts/install_llamacpp.sh` (or set LARGEFORGE_LLAMA_CPP_DIR to a llama.cpp checkout)"
BINDINGS_HINT = "run `bash scripts/install_llamacpp.sh` (llama-cpp-python on its one llama.cpp build)"
TOOLS_HINT = "run `bash scripts/install_llamacpp.sh` to build llama.cpp's llama-imatrix and llama-quantize"


class GGUFExportError(LargeForgeError):
    """llama.cpp's converter or quantizer failed; the message ends with its last output lines."""


def converter_script(name: str = "convert_hf_to_gguf.py") -> Path:
    """llama.cpp's converter script, or a ConfigError saying how to get it."""
    path = find_converter(name)
    if path is None:
        raise ConfigError(f"llama.cpp's {name} was not found in {llama_cpp_home()}: {SETUP_HINT}")
    return path


def find_tool(name: str) -> Path | None:
    """llama.cpp's ``name`` program (``llama-quantize``, ``llama-imatrix``), or None."""
    return find_binary(name)


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` bindings, or a ConfigError naming the extra.

    Bindings installed without a llama.cpp of their own (install_llamacpp.sh's single build)
    load the ``libllama`` of that build, through their ``LLAMA_CPP_LIB_PATH``."""
    library = bindings_library_dir()
    if library is not None:
        os.environ.setdefault("LLAMA_CPP_LIB_PATH", str(library))
    try:
        import llama_cpp
    except (ImportError, OSError):  # OSError: bindings without a library they can load
        raise ConfigError(f"GGUF quantization needs llama.cpp's Python bindings: {BINDINGS_HINT}") from None
    return llama_cpp


def run(command: list[str], what: str) -> None:
    """Run one of llama.cpp's programs or converters; a GGUFExportError with its last lines on failure."""
    # The converter puts its own gguf-py first on sys.path unless NO_LOCAL_GGUF is set.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NO_LOCAL_GGUF", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise GGUFExportError(f"{what} failed (exit {done.returncode}):\n{tail}")
