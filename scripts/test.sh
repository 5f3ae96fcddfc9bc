#!/usr/bin/env bash
# Install everything, check formatting, lint, types and import cycles, run the core's tests with
# largeforge-core alone (nox -s core), and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bash scripts/install.sh
bash scripts/lint.sh
# largeforge-core alone, as a user without torch or a sibling gets it: its built wheel in its own
# virtualenv (.nox/core, reused between runs), running tests/core.
"${PYTHON:-python3}" -m nox --version >/dev/null 2>&1 || "${PYTHON:-python3}" -m pip install --quiet nox
"${PYTHON:-python3}" -m nox -s core
exec "${PYTHON:-python3}" -m pytest tests "$@"
