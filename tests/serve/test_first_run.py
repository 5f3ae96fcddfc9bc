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
