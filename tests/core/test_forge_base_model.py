"""``forge --dry-run`` refuses a base_model that cannot be had, naming the
line (it planned every stage for a model that does not exist)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from largeforge.cli.main import main
from tests.helpers import QUICKSTART, quickstart_copy

#: What a hub id that is not cached says offline: with huggingface_hub (largeforge-train and
#: -serve bring it) it looks in the cache; without it, the core says what to install.
HUB_REASON = (
    "is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    if importlib.util.find_spec("huggingface_hub")
    else "needs huggingface_hub (installed with largeforge-core[train] or [serve]); or pass a local model directory"
)


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("does-not-exist", "cannot resolve model 'does-not-exist'"),
        ("/nonexistent/model/dir", "model directory '/nonexistent/model/dir' does not exist"),
        ("someorg/missing-model", HUB_REASON),
    ],
)
def test_dry_run_refuses_a_missing_base_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model: str, reason: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = QUICKSTART.read_text().replace("base_model: smollm2-135m-instruct", f"base_model: {model}")
    pipeline = quickstart_copy(tmp_path, text)
    assert main(["forge", str(pipeline), "--dry-run"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {pipeline}:9: base_model: ") and reason in err[0]


def test_dry_run_accepts_the_embedded_alias(pm, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """``pm`` holds the core plugin only: the plan gets past base_model (line 9) and its data, and
    stops at the first stage whose plugin is missing (the whole plan passes in tests/e2e)."""
    pipeline = quickstart_copy(tmp_path)
    assert main(["forge", str(pipeline), "--dry-run"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {pipeline}:36: stage sft needs the largeforge-train distribution, which is not installed: "
        'pip install "largeforge-core[train]"'
    ]
