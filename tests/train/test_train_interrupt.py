"""Ctrl+C during training exits 130 and says what was kept and how to resume
(it used to exit in silence). A real ``largeforge train sft`` child on the tiny model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_ctrl_c_says_which_checkpoint_was_kept_and_how_to_resume(
    tiny_model_dir: Path, sft_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "sft",
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(sft_file),
        "--output",
        str(out),
        "--max-steps",
        "500",
        "--save-steps",
        "1",
        "--save-total-limit",
        "1",
        "--batch-size",
        "1",
        "--gradient-accumulation",
        "1",
        "--max-length",
        "128",
        "--lora-r",
        "2",
        "--lora-target-modules",
        "all-linear",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "largeforge.cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 600
        while not list(out.glob("checkpoint-*/COMPLETE")):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint was written: {proc.communicate(timeout=60)[1][-2000:]}")
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    tail = err[err.rindex("Interrupted.") :]
    assert f"kept: {out}/checkpoint-" in tail and "of 500)" in tail
    assert "resume with `largeforge train sft --model" in tail and tail.rstrip().endswith("--resume`")
