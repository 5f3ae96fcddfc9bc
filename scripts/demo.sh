#!/usr/bin/env bash
# The main job on a fresh machine: install, check the environment with a real generation,
# then validate the bundled example data and the real-world samples.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" != "--no-install" ]; then bash scripts/install.sh; fi
largeforge doctor
largeforge plugins
largeforge data validate examples/data/*
if [ -d ../shared/data/real ]; then largeforge data validate ../shared/data/real/*.json --max-errors 5; fi
