"""Issue 15, item 18: the bf16 fallback warning is printed once, not once per use."""

from __future__ import annotations

import logging

import pytest

from largeforge.config import SFTConfig
from largeforge_train import base
from largeforge_train.base import resolve_precision


def test_bf16_fallback_is_reported_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "is_bf16_supported", lambda: False)  # as on this CPU
    monkeypatch.setattr(base, "_WARNED", set())
    config = SFTConfig(output_dir="out")
    # The CLI's logging set-up (run by earlier tests) stops "largeforge" propagating to the root
    # logger, where caplog listens: listen on it directly.
    logger = logging.getLogger("largeforge")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="largeforge"):
            assert resolve_precision(config) == (False, False)
            assert resolve_precision(config) == (False, False)
    finally:
        logger.removeHandler(caplog.handler)
    warnings = [r for r in caplog.records if "bf16" in r.getMessage()]
    assert len(warnings) == 1 and "training in fp32" in warnings[0].getMessage()
