"""``forge --dry-run`` with the real SFT trainer: a cross-field error in a training stage is one
short line on stderr, naming the rule and not the whole config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import bf16_and_fp16_pipeline


def test_forge_dry_run_prints_one_short_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "forge", str(bf16_and_fp16_pipeline(tmp_path)), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "fp16 and bf16 cannot both be true" in lines[0]
    assert "output_dir" not in lines[0] and len(lines[0]) < 200
