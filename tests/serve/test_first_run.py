"""Issue 15, item 18: ``serve inference`` listens on loopback unless told otherwise."""

from __future__ import annotations

import pytest

from largeforge.cli.main import main
from largeforge.config import InferenceConfig


def test_default_host_is_loopback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert InferenceConfig().host == "127.0.0.1"
    monkeypatch.setenv("COLUMNS", "250")  # one help line per option
    assert main(["serve", "inference", "--help"]) == 0
    out = capsys.readouterr().out
    assert "0.0.0.0 listens on every interface" in out
    assert "[default: 127.0.0.1]" in out


def test_a_missing_model_fails_before_the_stack_loads() -> None:
    """Item 18: ``--model does-not-exist`` took 251 s to say so (the engine loaded first)."""
    import subprocess
    import sys

    for model, reason in (
        ("does-not-exist", "cannot resolve model 'does-not-exist'"),
        ("/no/such/model", "model directory '/no/such/model' does not exist"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "largeforge.cli.main", "serve", "inference", "--model", model],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 1
        assert "loading" not in proc.stdout + proc.stderr  # refused before the engine was built
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0]
