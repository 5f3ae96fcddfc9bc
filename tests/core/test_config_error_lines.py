"""A cross-field config error names the rule, not the whole config dict, and a
huge bad value is cut short: the error stays one readable line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from largeforge.config import SFTConfig
from largeforge.errors import ConfigError

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"


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


def test_forge_dry_run_prints_one_short_line(tmp_path: Path) -> None:
    text = QUICKSTART.read_text().replace("    bf16: false\n", "    bf16: true\n    fp16: true\n")
    shutil.copytree(QUICKSTART.parent / "data", tmp_path / "data")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "forge", str(pipeline), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "fp16 and bf16 cannot both be true" in lines[0]
    assert "output_dir" not in lines[0] and len(lines[0]) < 200
