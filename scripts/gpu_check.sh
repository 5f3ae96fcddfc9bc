#!/usr/bin/env bash
# The GPU check (README.md, "GPU check"): LargeForge's CUDA paths in one prepared run on a lent GPU
# machine without network: doctor, LoRA SFT in bf16, DPO, GPTQ W4, the transformers engine under 8
# clients. The wheels the machine lacks travel in a bundle built here.
#
#   bash scripts/gpu_check.sh --build     here (package registry): the bundle, split in loads of <= 56 MiB
#   bash scripts/gpu_check.sh --dry-run   here: --build, then install it offline and import it; print the plan
#   bash scripts/gpu_check.sh --stash     GPU machine, every call but the last: keep this call's load
#   bash scripts/gpu_check.sh             GPU machine, last call: join the loads, install with --no-index,
#                                         run every part (< 8 min); results in $OUT (default ./gpu_check_out)
# Extra arguments go to the step (e.g. --dry-run --load-mib 50; run --only sft,serve).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
mode=${1:-run}
[ $# -gt 0 ] && shift
case "$mode" in
    --build) exec "$PY" -m gpu_check build "$@" ;;
    --dry-run)
        "$PY" -m gpu_check build "$@" || exit 1
        "$PY" -m gpu_check verify || exit 1
        exec "$PY" -m gpu_check plan ;;
    --stash) exec "$PY" -m gpu_check stash ;;
    run | --run) exec "$PY" -m gpu_check run --out "${OUT:-gpu_check_out}" "$@" ;;
    *) echo "usage: bash scripts/gpu_check.sh [--build | --dry-run | --stash | --run] [options]" >&2; exit 2 ;;
esac
