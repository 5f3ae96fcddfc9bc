#!/usr/bin/env bash
# Install LargeForge (all five distributions, editable) and prepare the embedded model.
# CPU torch is pinned first: an unpinned torch pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PYTHON:-python3} -m pip"
$PIP install --quiet torch==2.13.0
$PIP install --quiet -e largeforge-core -e largeforge-train -e largeforge-serve -e largeforge-router \
    -e largeforge-quant -r tests/requirements.txt
largeforge models pull smollm2-135m-instruct
# llama.cpp, the CPU serving engine `serve inference` picks by default (and quant gguf's tools):
# one build (~10 min on 2 cores, progress printed) for llama-server, the tools and the Python
# bindings, kept under ~/.cache/largeforge/llama.cpp (seconds when done).
bash scripts/install_llamacpp.sh
# Headless Chromium renders the forge report in tests (tests/e2e/test_forge_report.py); skipped if present.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    LOG="${TMPDIR:-/tmp}/largeforge-apt.log"
    echo "installing chromium (apt; log: $LOG)"
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$LOG" 2>&1 ||
        { tail -20 "$LOG"; exit 1; }
fi
# vLLM (CPU build) in its own virtual environment, for --backend vllm and its tests (quick when done).
bash scripts/install_vllm.sh
