"""Kill a training process with SIGKILL after a checkpoint, resume it through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from largeforge_train.base import read_log

# The child trains through the public API and parks in on_save at step 2, so the parent kills it
# at a known point; everything else is the real trainer.
CHILD = """
import sys, time
from largeforge.config import LoRAConfig, SFTConfig
from largeforge.data import DatasetFactory
from transformers import TrainerCallback
from largeforge_train import SFTTrainer

model, data, out, flag = sys.argv[1:5]

class Park(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        if state.global_step == 2:
            open(flag, "w").write("saved")
            time.sleep(600)

config = SFTConfig(output_dir=out, max_steps=6, save_steps=2, save_total_limit=2, logging_steps=1,
                   per_device_train_batch_size=2, gradient_accumulation_steps=1, max_seq_length=128,
                   learning_rate=1e-3, warmup_ratio=0.0)
SFTTrainer(model, config, LoRAConfig(r=4, target_modules="all-linear"), callbacks=[Park()],
           progress=False).train(DatasetFactory.load(data))
"""


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached its checkpoint")
        time.sleep(0.5)


@pytest.mark.e2e
def test_sigkill_after_checkpoint_then_resume(tiny_model_dir, sft_file, tmp_path):
    import torch

    out, flag = tmp_path / "run", tmp_path / "flag"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tiny_model_dir), str(sft_file), str(out), str(flag)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(flag, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "checkpoint-2" / "COMPLETE").is_file()
    assert not (out / "adapter_model.safetensors").exists()  # the run never finished
    # A second kill, mid-save: a half-written folder without the marker.
    half = out / "checkpoint-3"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 10)

    resumed = subprocess.run(
        [
            "largeforge",
            "train",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sft_file),
            "--output",
            str(out),
            "--max-steps",
            "6",
            "--save-steps",
            "2",
            "--save-total-limit",
            "2",
            "--logging-steps",
            "1",
            "--batch-size",
            "2",
            "--gradient-accumulation",
            "1",
            "--max-length",
            "128",
            "--learning-rate",
            "1e-3",
            "--warmup-ratio",
            "0",
            "--lora-r",
            "4",
            "--lora-target-modules",
            "all-linear",
            "--resume",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "steps           6" in resumed.stdout

    # Continued at the right global step: the log has steps 1-2 from the first run, 3-6 from the second.
    steps = [r["step"] for r in read_log(out) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    # The reported loss is the whole run's mean (it was the resumed steps' sum over all 6 steps).
    losses = [r["loss"] for r in read_log(out) if "loss" in r]
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-3)
    assert summary["metrics"]["train_loss"] == summary["loss"]
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    # The optimizer state came back: Adam's per-parameter step counter ran on from 2 to 6
    # (a fresh optimizer would be at 4).
    optimizer = torch.load(out / "checkpoint-6" / "optimizer.pt", weights_only=False)
    counters = {int(s["step"]) for s in optimizer["state"].values()}
    assert counters == {6}
    # save_total_limit=2: the two newest complete checkpoints; the half-written one is gone.
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    assert all((p / "COMPLETE").is_file() for p in out.glob("checkpoint-*"))
    assert (out / "adapter_model.safetensors").is_file()
