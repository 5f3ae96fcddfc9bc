"""The quickstart checkpoints often enough that an interrupted forge stage
resumes within minutes (``save_steps: 1000`` meant no checkpoint at all: 46 minutes lost)."""

from __future__ import annotations

from pathlib import Path

import yaml

from largeforge.forge.spec import load_pipeline

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"


def test_quickstart_saves_a_checkpoint_every_few_steps() -> None:
    sft = yaml.safe_load(PIPELINE.read_text())["defaults"]["sft"]
    assert sft["save_steps"] <= 20 and sft["save_total_limit"] >= 1
    load_pipeline(PIPELINE)  # still a valid pipeline
