"""The retention gate on the real embedded model: an expert whose training wrecks general ability
(all-linear LoRA at a learning rate far too high, on identity-style data) is flagged by the eval
stage, and with ``eval.strict`` the forge stops with one line naming what was lost; a gentle
expert on the same data passes. Minutes on 2 cores: marked slow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "data"

PIPELINE = """\
name: retention
base_model: smollm2-135m-instruct
workdir: runs
defaults:
  sft: {per_device_train_batch_size: 8, gradient_accumulation_steps: 1, warmup_ratio: 0.0,
        max_seq_length: 128, logging_steps: 1, save_steps: 1000, bf16: false}
  eval: {val_size: 0, general_rows: 16, general_max_new_tokens: 16, strict: true}
experts:
  - name: gentle
    data: concierge.json
    keywords: [who]
    merge: false
    sft: {max_steps: 2, learning_rate: 1.0e-5}
    lora: {r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj]}
  - name: wrecked
    data: concierge.json
    keywords: [name]
    merge: false
    sft: {max_steps: 6, learning_rate: 1.0e-2}
    lora: {r: 16, lora_alpha: 32, target_modules: all-linear}
router:
  classifier: {classifier_type: keyword, fallback_expert: gentle, keyword_weight: 1.0, neural_weight: 0.0}
"""


def test_the_retention_gate_stops_a_wrecked_expert_and_passes_a_gentle_one(tmp_path: Path, smollm2_dir: Path):
    shutil.copy(QUICKSTART / "concierge.json", tmp_path / "concierge.json")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        ["largeforge", "forge", str(pipeline)], env=env, capture_output=True, text=True, timeout=3600, cwd=tmp_path
    )
    # The forge fails on the wrecked expert, in one line naming what it lost.
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "expert wrecked lost general ability" in last and "eval.max_regression 0.10" in last, last
    assert "(eval.strict)" in last and "Traceback" not in proc.stderr
    # The report was written before the failure: the gentle expert kept what it knew.
    figures = json.loads((tmp_path / "runs" / "report.json").read_text())
    gentle = figures["experts"]["gentle"]["eval"]["general"]
    wrecked = figures["experts"]["wrecked"]["eval"]["general"]
    assert gentle["passed"] and gentle["regression"] <= 0.1
    assert gentle["models"]["base"]["metrics"]["contains"] >= 0.5  # the base model knows these
    assert not wrecked["passed"] and wrecked["regression"] > 0.1 and wrecked["lost_count"] >= 2
    assert wrecked["comparison"]["contains"]["interval"][1] < 0  # lost beyond the noise
    assert "LOST" in (tmp_path / "runs" / "report.html").read_text()
