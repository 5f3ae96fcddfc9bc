"""A YAML alias bomb is refused in one line, quickly, not followed.

A ~500-byte "billion laughs" pipeline made ``largeforge forge --dry-run`` run for minutes and
reach gigabytes; every config file goes through the same loader.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from largeforge.config import load_config_file
from largeforge.errors import ConfigError


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"experts: *a{levels}", ""])


def test_forge_dry_run_refuses_an_alias_bomb_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(bomb())
    assert len(path.read_bytes()) < 600
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "forge", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert time.monotonic() - started < 90
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}: YAML aliases expand to more than 100,000 values (an alias bomb?); refusing to load it"
    ]


@pytest.mark.parametrize("text", [bomb(), "a: &x\n  - *x\n"], ids=["billion-laughs", "self-reference"])
def test_every_yaml_config_is_bounded(tmp_path: Path, text: str) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config_file(path)
    assert time.monotonic() - started < 5


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {lr: 0.001, epochs: 2}\nsft: *b\ndpo: *b\nlist: [*b, *b]\n")
    data = load_config_file(path)
    assert data["sft"] == data["list"][1] == {"lr": 0.001, "epochs": 2}
