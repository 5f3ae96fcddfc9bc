"""Runs too short to learn: the accumulation fitted to small data, and the one-line warning."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from largeforge.cli.main import main
from largeforge.config import LoRAConfig, SFTConfig
from largeforge_train.run_length import MIN_STEPS, RunLength, fit_accumulation, short_run_warning

ISSUE = SFTConfig(output_dir="o", num_train_epochs=2, per_device_train_batch_size=8)  # the issue's run


def test_the_issue_run_is_six_steps_and_the_rule_fits_accumulation_one():
    assert RunLength.of(91, ISSUE).optimizer_steps == 6  # 12 batches an epoch / 4, twice
    assert fit_accumulation(91, ISSUE) == 1 and RunLength.of(91, ISSUE, 1).optimizer_steps == 24 >= MIN_STEPS
    assert fit_accumulation(5000, ISSUE) == 4  # large data keeps the spec's default
    assert fit_accumulation(91, ISSUE.merged(max_steps=3)) == 4  # max_steps says how long, keep the rest
    assert fit_accumulation(200, ISSUE) == 2  # 25 batches an epoch: 13 steps × 2 epochs


def test_warning_says_what_to_change_in_one_line():
    line = short_run_warning(91, ISSUE, ["q_proj", "v_proj"], tokens_per_example=40.0)
    assert line is not None and "\n" not in line
    for part in (
        "only 6 optimizer steps",
        "91 rows",
        "accumulation 4",
        "about 1280 trained tokens a step",
        "--gradient-accumulation 1 (24 steps)",
        "--lora-target-modules all-linear",
    ):
        assert part in line, part
    fitted = ISSUE.merged(gradient_accumulation_steps=1)
    assert short_run_warning(91, fitted, "all-linear") is None  # 24 steps on every linear layer
    assert "all-linear" in short_run_warning(91, fitted, ["q_proj", "v_proj"])  # 24 < 50 on attention only
    assert short_run_warning(91, ISSUE.merged(max_steps=5), ["q_proj"]) is None  # the user said how long
    assert short_run_warning(20000, SFTConfig(output_dir="o"), ["q_proj", "v_proj"]) is None


def test_trainer_preflight_warns_with_the_measured_tokens(tiny_model_dir, sft_file, tmp_path, caplog):
    from largeforge.data import DatasetFactory
    from largeforge_train.sft import SFTTrainer

    trainer = SFTTrainer(str(tiny_model_dir), SFTConfig(output_dir=str(tmp_path / "o")), LoRAConfig())
    trainer.load_tokenizer()
    dataset = trainer.preflight(DatasetFactory.load(sft_file))
    logging.getLogger("largeforge").addHandler(caplog.handler)
    try:
        line = trainer.warn_short_run(len(dataset))
    finally:
        logging.getLogger("largeforge").removeHandler(caplog.handler)
    assert line is not None and "only 3 optimizer steps (6 rows" in line and "trained tokens a step" in line
    assert f"preflight: {line}" in caplog.text


@pytest.mark.parametrize(
    ("extra", "expected"), [([], 1), (["--gradient-accumulation", "4"], 4), (["--gradient_accumulation_steps", "3"], 3)]
)
def test_cli_fits_accumulation_unless_set(extra, expected, tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(91)]))
    out = str(tmp_path / "o")
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(data),
                "--output",
                out,
                "--num-epochs",
                "2",
                "--batch-size",
                "8",
                *extra,
                "--print-config",
            ]
        )
        == 0
    )
    assert yaml.safe_load(capsys.readouterr().out)["gradient_accumulation_steps"] == expected
