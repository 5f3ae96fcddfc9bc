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
