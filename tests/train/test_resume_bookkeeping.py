"""The bookkeeping of ``--resume`` (the weights already resume exactly).

A restart from scratch (no complete checkpoint) drops the killed run's log rows (the log read
steps 1, 2, 1, 2, 3, ...); a resume drops the rows after its checkpoint, which are trained again;
the reported loss is the whole run's mean (see also tests/train/test_train_resume.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.config import SFTConfig
from largeforge_train import SFTTrainer
from largeforge_train.base import LOG_FILE, mean_logged_loss, read_log


def write_log(out: Path, steps: list[int]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / LOG_FILE).write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in steps))


def checkpoint(out: Path, step: int) -> None:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "COMPLETE").write_text("")


def trainer(out: Path) -> SFTTrainer:
    return SFTTrainer("unused-model", SFTConfig(output_dir=str(out)), resume=True, progress=False)


def test_restart_from_scratch_drops_the_killed_runs_log(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_log(out, [1, 2])
    assert trainer(out).resume_checkpoint() is None
    assert read_log(out) == []


def test_resume_drops_the_rows_after_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_log(out, [1, 2, 3])  # killed at step 3, after the checkpoint of step 2
    checkpoint(out, 2)
    assert trainer(out).resume_checkpoint() == str(out / "checkpoint-2")
    assert [r["step"] for r in read_log(out)] == [1, 2]


def test_mean_logged_loss_weighs_each_log_by_its_steps() -> None:
    history = [
        {"step": 2, "loss": 2.0},
        {"step": 3, "loss": 1.0, "learning_rate": 1e-3},
        {"step": 3, "eval_loss": 9},
        {"step": 6, "loss": 0.5},
        {"train_runtime": 1.0, "step": 6},
    ]
    assert mean_logged_loss(history) == pytest.approx((2 * 2 + 1 + 3 * 0.5) / 6)
    assert mean_logged_loss([{"step": 1, "eval_loss": 1.0}]) is None
