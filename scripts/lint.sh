#!/usr/bin/env bash
# The habits CI enforces before the tests: formatting, lint, types and no new import cycle.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -m ruff format --check .
"$PY" -m ruff check .
"$PY" scripts/check_import_cycles.py
"$PY" -m mypy
