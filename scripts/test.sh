#!/usr/bin/env bash
# Install everything, check formatting, lint, types and import cycles, and run the whole test
# suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bash scripts/install.sh
bash scripts/lint.sh
exec "${PYTHON:-python3}" -m pytest tests "$@"
