"""Runs the parts one after another within a time budget and writes one JSON of results.

Each part runs in its own process group with its own time limit (killed as a group when it
runs over), so one failure, hang or crash does not hide the others; a part whose needs did
not pass is skipped, and so is one the budget has no time left for. The JSON is rewritten
after every part: what finished is on disk even if the whole call is cut short.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gpu_check.common import MODEL, CheckFailed, Context
from gpu_check.parts_serve import MAX_TOKENS, part_serve
from gpu_check.parts_setup import part_bundle, part_doctor, part_env, part_install, part_model
from gpu_check.parts_train import DPO_ARGS, GPTQ_ARGS, SFT_ARGS, part_dpo, part_gptq, part_sft

BUDGET_S = 450  # under 8 minutes with the shell's own start, and a device call's 10-minute limit
MIN_PART_S = 20  # a part is not started with less than this left
RESULTS, LOG = "gpu_check.json", "gpu_check.log"


@dataclass(frozen=True)
class Part:
    """One part: its function, time limit (seconds), the parts it needs, and the command it runs."""

    name: str
    run: Callable[[Context], dict[str, Any]]
    timeout: int
    needs: tuple[str, ...] = ()
    command: str = ""

    @property
    def summary(self) -> str:
        return " ".join((self.run.__doc__ or "").replace("``", "").split())


PARTS = [
    Part("bundle", part_bundle, 60),
    Part("install", part_install, 120, ("bundle",)),
    Part("env", part_env, 60, ("install",)),
    Part("model", part_model, 120, ("install",), f"largeforge models pull {MODEL}"),
    Part("doctor", part_doctor, 90, ("model",), "largeforge doctor"),
    Part(
        "sft",
        part_sft,
        180,
        ("model",),
        f"largeforge train sft --model {MODEL} --dataset data/identity.json {' '.join(SFT_ARGS)}",
    ),
    Part(
        "dpo",
        part_dpo,
        120,
        ("model",),
        f"largeforge train dpo --model runs/sft --dataset examples/train/pairs.json {' '.join(DPO_ARGS)}",
    ),
    Part("gptq", part_gptq, 180, ("model",), f"largeforge quant gptq --model {MODEL} {' '.join(GPTQ_ARGS)}"),
    Part(
        "serve",
        part_serve,
        150,
        ("model",),
        f"largeforge serve inference --model {MODEL} --backend transformers --max-concurrency 8; openai client: "
        f"1 client x 2, then 8 clients x 2 streamed greedy requests of {MAX_TOKENS} tokens",
    ),
]
BY_NAME = {part.name: part for part in PARTS}


def part_environment(ctx: Context) -> dict[str, str]:
    """The environment of every part: the bundle's packages first on the path, no hub, its own caches."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ctx.repo / "scripts"), str(ctx.site)]),
        PATH=os.pathsep.join([str(ctx.site / "bin"), env.get("PATH", "")]),
        LARGEFORGE_HOME=str(ctx.work / "home"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_one(ctx: Context, name: str) -> int:
    """In the part's own process: run it and write its result file."""
    entry: dict[str, Any]
    try:
        details = BY_NAME[name].run(ctx)
        failed = [check for check, passed in details.get("checks", {}).items() if not passed]
        entry = {"status": "fail" if failed else "ok", **({"failed_checks": failed} if failed else {}), **details}
    except CheckFailed as exc:
        entry = {"status": "fail", "error": str(exc), **exc.details}
    except Exception as exc:
        traceback.print_exc()
        entry = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:600]}
    path = ctx.work / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=1, default=str))
    return 0 if entry["status"] == "ok" else 1


def _run_part(ctx: Context, part: Part, timeout: float, env: dict[str, str], log: IO[str]) -> dict[str, Any]:
    result_file = ctx.work / "results" / f"{part.name}.json"
    result_file.unlink(missing_ok=True)
    log.write(f"\n===== {part.name} (limit {timeout:.0f} s) =====\n")
    log.flush()
    started = time.monotonic()
    cmd = [sys.executable, "-m", "gpu_check", "part", part.name, *ctx_args(ctx)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ctx.repo, start_new_session=True)
    try:
        proc.wait(timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the part's group: its largeforge commands and server too
        proc.wait()
        timed_out = True
    entry: dict[str, Any] = json.loads(result_file.read_text()) if result_file.is_file() else {}
    if timed_out:
        entry = {**entry, "status": "timeout", "error": f"still running after {timeout:.0f} s: killed"}
    elif not entry:
        entry = {"status": "error", "error": f"the part's process exited {proc.returncode} without a result"}
    entry["seconds"] = round(time.monotonic() - started, 1)
    return entry


def ctx_args(ctx: Context) -> list[str]:
    """Command-line options that rebuild ``ctx`` in a part's process."""
    return ["--repo", str(ctx.repo), "--bundle", str(ctx.bundle), "--stash", str(ctx.stash), "--work", str(ctx.work)]


def run(ctx: Context, out: Path, budget: float = BUDGET_S, only: list[str] | None = None) -> int:
    """Every part (or ``only`` those) within ``budget`` seconds; results in ``out``. 0 if all passed."""
    out.mkdir(parents=True, exist_ok=True)
    if not only:  # a whole run starts from nothing; a chosen part reuses what earlier runs left
        shutil.rmtree(ctx.work, ignore_errors=True)
    ctx.work.mkdir(parents=True, exist_ok=True)
    env, started = part_environment(ctx), time.monotonic()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "budget_s": budget,
        "parts": {},
    }
    with (out / LOG).open("a") as log:
        for part in PARTS:
            if only and part.name not in only:
                continue
            blocked = [n for n in part.needs if results["parts"].get(n, {}).get("status", "ok") != "ok"]
            left = budget - (time.monotonic() - started)
            if blocked:
                entry = {"status": "skipped", "error": f"needs {', '.join(blocked)}"}
            elif left < MIN_PART_S:
                entry = {"status": "skipped", "error": f"out of time: {left:.0f} s of {budget:.0f} left"}
            else:
                entry = _run_part(ctx, part, min(part.timeout, left), env, log)
            results["parts"][part.name] = entry
            results["elapsed_s"] = round(time.monotonic() - started, 1)
            by_status: dict[str, list[str]] = {}
            for name, done in results["parts"].items():
                by_status.setdefault(done["status"], []).append(name)
            results["summary"] = by_status
            (out / RESULTS).write_text(json.dumps(results, indent=1, default=str))
            failed = entry.get("failed_checks") or ([entry["error"][:160]] if entry.get("error") else [])
            print(
                f"{part.name:8} {entry['status']:8} {entry.get('seconds', 0):6.1f} s  {'; '.join(failed)}", flush=True
            )
    print(f"results: {out / RESULTS} (log: {out / LOG}); {results['elapsed_s']} s", flush=True)
    return 0 if set(results["summary"]) == {"ok"} else 1


def cli(probe: Path, argv: list[str]) -> int:
    """``largeforge ARGV`` in this process; then the facts a part needs (exit code, peak CUDA memory)."""
    code = 1
    try:
        from largeforge.cli.main import main

        code = main(argv)
    except KeyboardInterrupt:
        code = 130
    finally:
        facts: dict[str, Any] = {"exit": code}
        torch = sys.modules.get("torch")  # only if the command imported it
        if torch is not None and torch.cuda.is_available():
            facts.update(cuda_peak_bytes=int(torch.cuda.max_memory_allocated()), gpu=torch.cuda.get_device_name(0))
        probe.write_text(json.dumps(facts))
    return code


def plan(manifest: dict[str, Any] | None, budget: float = BUDGET_S) -> list[str]:
    """The parts, their limits and commands, and the device calls that carry the bundle."""
    lines = [
        f"GPU check: {len(PARTS)} parts in order within {budget:.0f} s, each in its own process with its "
        "own limit; a part whose needs failed is skipped"
    ]
    for part in PARTS:
        needs = f" (needs {', '.join(part.needs)})" if part.needs else ""
        lines.append(f"  {part.name:8} ≤{part.timeout:4d} s{needs}: {part.summary}")
        if part.command:
            lines.append(f"  {'':8}   $ {part.command}")
    loads = [load["path"] for load in (manifest or {}).get("loads", [])]
    if loads:
        lines.append("Device calls (one per load, back to back on the warm machine; the last runs the check):")
        for i, load in enumerate(loads, 1):
            command = "bash scripts/gpu_check.sh" + (" --stash" if i < len(loads) else "")
            limit = 120 if i < len(loads) else 600
            lines.append(f"  {i}. carry [{load!r}], command {command!r}, timeout_s {limit}")
        lines.append("  results come back in $OUT: gpu_check.json and gpu_check.log")
    return lines
