"""Fixtures of the quant tests: an isolated LargeForge home and small calibration files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the calibration cache out of the user's home; models still resolve from the real cache."""
    from largeforge.models.paths import models_cache

    home = tmp_path_factory.mktemp("lf-home")
    (home / "models").symlink_to(models_cache(), target_is_directory=True)
    monkeypatch.setenv("LARGEFORGE_HOME", str(home))


@pytest.fixture(scope="session")
def alpaca_small(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The first 24 rows of the real Alpaca sample."""
    rows = json.loads((shared_data / "alpaca_en_demo.json").read_text(encoding="utf-8"))[:24]
    path = tmp_path_factory.mktemp("calib") / "alpaca24.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path
