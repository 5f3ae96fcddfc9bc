"""``forge --dry-run`` refuses a base_model that cannot be had, naming the
line (it planned every stage for a model that does not exist)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from largeforge.cli.main import main

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("does-not-exist", "cannot resolve model 'does-not-exist'"),
        ("/nonexistent/model/dir", "model directory '/nonexistent/model/dir' does not exist"),
        ("someorg/missing-model", "is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"),
    ],
)
def test_dry_run_refuses_a_missing_base_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model: str, reason: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(QUICKSTART.parent / "data", tmp_path / "data")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(QUICKSTART.read_text().replace("base_model: smollm2-135m-instruct", f"base_model: {model}"))
    assert main(["forge", str(pipeline), "--dry-run"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {pipeline}:9: base_model: ") and reason in err[0]


def test_dry_run_accepts_the_embedded_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(QUICKSTART.parent / "data", tmp_path / "data")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(QUICKSTART.read_text())
    assert main(["forge", str(pipeline), "--dry-run"]) == 0
