#!/usr/bin/env bash
# The main job on a fresh machine: install, forge two experts from the bundled data
# (examples/quickstart), serve them behind the router, ask it the demo queries and print which
# expert answered what; forge-runs/quickstart/report.html shows each expert against the base model.
# A second run skips every finished stage.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" != "--no-install" ]; then bash scripts/install.sh; fi
largeforge forge examples/quickstart/pipeline.yaml --demo
