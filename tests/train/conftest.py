"""Fixtures of the train tests: small SFT / preference files and a fast training config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import QA


@pytest.fixture()
def sft_file(tmp_path: Path) -> Path:
    """Six short Alpaca rows."""
    path = tmp_path / "sft.json"
    path.write_text(json.dumps([{"instruction": q, "input": "", "output": a} for q, a in QA]))
    return path


@pytest.fixture()
def pref_file(tmp_path: Path) -> Path:
    """Six flat preference rows."""
    path = tmp_path / "pref.json"
    path.write_text(json.dumps([{"prompt": q, "chosen": a, "rejected": "I do not know."} for q, a in QA]))
    return path


@pytest.fixture(scope="session")
def tokenizer(smollm2_dir: Path):
    """SmolLM2's real tokenizer (chat template, eos <|im_end|>)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)
