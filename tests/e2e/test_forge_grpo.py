"""``largeforge forge`` with ``align: {method: grpo}`` after SFT: prompt rows and the rewards' columns
checked at plan time, then GRPO trained on the SFT adapter of a tiny model, its rewards in the record."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.forge import PlanError, load_pipeline, plan_pipeline
from largeforge_train.base import read_log
from tests.helpers import FACTS, write_align_pipeline

pytestmark = pytest.mark.e2e

GRPO = """align:
      method: grpo
      data: prompts.jsonl
      options: {max_steps: 2, per_device_train_batch_size: 4, gradient_accumulation_steps: 1, num_generations: 2,
                max_completion_length: 4, logging_steps: 1, learning_rate: 0.001, bf16: false,
                reward_funcs: [contains_answer, format_regex], format_pattern: '^[A-Z]', reward_weights: [1.0, 0.5]}"""


def write(tmp_path: Path, model: Path, stage: str = GRPO) -> Path:
    (tmp_path / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": q, "answer": "true"}) + "\n" for q, _ in FACTS)
    )
    return write_align_pipeline(tmp_path, model, stage)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            GRPO.replace("contains_answer", "nope"),
            r"pipeline.yaml:16: unknown reward 'nope' \(registered: exact_match,",
        ),
        (
            GRPO.replace("reward_funcs: [contains_answer, format_regex], ", "").replace(
                ", reward_weights: [1.0, 0.5]", ""
            ),
            r"GRPO needs at least one reward",
        ),
        (
            GRPO.replace("format_regex]", "format_regex], reference_column: solution"),
            r"prompts.jsonl: reward 'contains_answer' reads the column 'solution', which the data lacks",
        ),
        # Alpaca rows are prompts too (their output a column), but they have no answer column
        (GRPO.replace("prompts.jsonl", "sft.json"), r"sft.json: reward 'contains_answer' reads the column 'answer'"),
    ],
)
def test_bad_grpo_stage_fails_at_plan_time(tmp_path, tiny_model_dir, stage, message):
    with pytest.raises(PlanError, match=message):
        plan_pipeline(load_pipeline(write(tmp_path, tiny_model_dir, stage)))


def test_forge_runs_sft_then_grpo(tmp_path, tiny_model_dir, capsys):
    path = write(tmp_path, tiny_model_dir)
    assert main(["forge", str(path)]) == 0
    assert re.search(r"helper · align \(grpo\) running", capsys.readouterr().out)
    grpo = tmp_path / "runs" / "experts" / "helper" / "grpo"
    assert (grpo / "adapter_config.json").is_file()
    record = json.loads((grpo / "forge-stage.json").read_text())
    assert record["plugin"] == "grpo" and record["metrics"]["steps"] == 2
    assert {"reward", "reward_first", "reward_last"} <= set(record["metrics"])
    assert [r["step"] for r in read_log(grpo) if "rewards/contains_answer/mean" in r] == [1, 2]
