"""Synthetic SFT and preference data from a (tiny) teacher; OOM halving; the CLI."""

from __future__ import annotations

import json
import math

import pytest

from largeforge.cli.main import main
from largeforge.data import DatasetFactory
from largeforge_train.generators import PreferenceGenerator, SyntheticGenerator

PROMPTS = ["What is Python?", "Name a colour.", "Say hello.", "Count to three.", "What is rain?"]


def test_sft_rows_from_a_teacher_halving_on_oom(tiny_model_dir, monkeypatch):
    generator = SyntheticGenerator(str(tiny_model_dir), max_new_tokens=4)
    real = generator._generate
    sizes: list[int] = []

    def flaky(texts, temperature):
        sizes.append(len(texts))
        if len(texts) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(texts, temperature)

    monkeypatch.setattr(generator, "_generate", flaky)
    rows = generator.generate_sft_data(PROMPTS, system_prompt="Be brief.", batch_size=4)
    assert sizes[:3] == [4, 2, 1] and set(sizes[2:]) == {1}  # halved down to one, then carried on
    assert [r["instruction"] for r in rows] == PROMPTS
    assert all(isinstance(r["output"], str) and r["system"] == "Be brief." for r in rows)


def test_other_errors_are_not_swallowed(tiny_model_dir, monkeypatch):
    generator = SyntheticGenerator(str(tiny_model_dir), max_new_tokens=2)
    generator._ensure_loaded()
    monkeypatch.setattr(generator, "_generate", lambda texts, t: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        generator.generate_batch(PROMPTS, 2, progress=False)


def test_preference_pairs_with_and_without_judge(tiny_model_dir):
    generator = PreferenceGenerator(str(tiny_model_dir), max_new_tokens=6)
    rows = generator.generate_preference_data(PROMPTS[:3], batch_size=3)
    assert rows and all(r["chosen"].strip() != r["rejected"].strip() for r in rows)
    score = generator.score_response("Say hello.", "Hello there")
    assert math.isfinite(score) and score < 0
    judged = PreferenceGenerator(str(tiny_model_dir), judge_model=str(tiny_model_dir), max_new_tokens=6)
    for row in judged.generate_preference_data(PROMPTS[:2], num_samples=3, batch_size=2):
        assert judged.score_response(row["prompt"], row["chosen"]) >= judged.score_response(
            row["prompt"], row["rejected"]
        )


def test_generate_cli_writes_loadable_files(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n\n")
    sft = tmp_path / "sft.json"
    assert (
        main(
            [
                "data",
                "generate",
                "sft",
                "--prompts",
                str(prompts),
                "--output",
                str(sft),
                "--teacher",
                str(tiny_model_dir),
                "--max-new-tokens",
                "4",
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    assert "5 SFT rows written" in capsys.readouterr().out
    assert len(json.loads(sft.read_text())) == 5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(["ok", {"text": "no prompt key"}]))
    assert (
        main(
            [
                "data",
                "generate",
                "preference",
                "--prompts",
                str(bad),
                "--output",
                str(tmp_path / "p.json"),
                "--teacher",
                str(tiny_model_dir),
            ]
        )
        == 1
    )
    assert "row 1" in capsys.readouterr().err


def test_generated_preference_file_loads_as_preference_data(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"prompt": p} for p in PROMPTS[:3]]))
    out = tmp_path / "pref.json"
    assert (
        main(
            [
                "data",
                "generate",
                "preference",
                "--prompts",
                str(prompts),
                "--output",
                str(out),
                "--teacher",
                str(tiny_model_dir),
                "--max-new-tokens",
                "6",
            ]
        )
        == 0
    )
    dataset = DatasetFactory.load(out)
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
