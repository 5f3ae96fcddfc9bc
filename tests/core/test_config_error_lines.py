"""A cross-field config error names the rule, not the whole config dict, and a
huge bad value is cut short: the error stays one readable line."""

from __future__ import annotations

from pathlib import Path

import pytest

from largeforge import hookimpl
from largeforge.cli.main import main
from largeforge.config import SFTConfig
from largeforge.errors import ConfigError
from tests.helpers import bf16_and_fp16_pipeline


def test_cross_field_error_does_not_print_the_config() -> None:
    with pytest.raises(ConfigError) as caught:
        SFTConfig.from_dict({"output_dir": "out", "fp16": True, "bf16": True, "learning_rate": 1e-4})
    message = str(caught.value)
    assert message == "config is invalid: fp16 and bf16 cannot both be true"


def test_a_huge_bad_value_is_cut_short() -> None:
    with pytest.raises(ConfigError) as caught:
        SFTConfig.from_dict({"output_dir": "out", "num_train_epochs": "x" * 10_000})
    message = str(caught.value)
    assert message.startswith("num_train_epochs = 'xxx") and len(message) < 300


class StubSFTTrainer:
    """Stands in for largeforge-train's SFT trainer: the plan asks it only for its config class
    (it has none, so the core's ``SFTConfig`` checks the stage)."""


def test_forge_dry_run_prints_one_short_line(pm, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Plugin:
        @hookimpl
        def register_trainers(self, register):  # type: ignore[no-untyped-def]
            register("sft", StubSFTTrainer)

    pm.register(Plugin(), name="stub-sft")
    assert main(["forge", str(bf16_and_fp16_pipeline(tmp_path)), "--dry-run"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pipeline.yaml:" in lines[0] and "fp16 and bf16 cannot both be true" in lines[0]
    assert "output_dir" not in lines[0] and len(lines[0]) < 200
