"""``largeforge quant awq|gptq``: a real run on the tiny model, config precedence, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main


def test_gptq_command_quantizes_and_prints_the_report(
    tiny_model_dir: Path, alpaca_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny-gptq"
    config = tmp_path / "quant.yaml"
    config.write_text("num_samples: 4\nseq_length: 48\ngroup_size: 128\n", encoding="utf-8")
    argv = [
        "quant",
        "gptq",
        "--model",
        str(tiny_model_dir),
        "--output",
        str(out),
        "--config",
        str(config),
        "--calibration",
        str(alpaca_small),
        "--samples",
        "6",
        "--group-size",
        "32",
        "--eval-samples",
        "3",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "GPTQ W4 asym g32" in printed and "linear layers" in printed and "perplexity (3 held-out)" in printed
    report = json.loads((out / "quantization_report.json").read_text(encoding="utf-8"))
    assert report["calibration_samples"] == 6  # the flag beat the file's 4
    assert report["heldout_samples"] == 3 and report["perplexity_after"] > 0
    recorded = json.loads((out / "quant_config.json").read_text(encoding="utf-8"))
    assert (recorded["group_size"], recorded["seq_length"]) == (32, 48)  # flag over file; file over default


def test_plain_gptq_command_works_offline_with_the_builtin_set(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, defect 5: no --calibration, an empty Hugging Face cache, nothing downloaded."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    out = tmp_path / "q"
    assert main(["quant", "gptq", "--model", str(tiny_model_dir), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "largeforge-builtin" in printed
    report = json.loads((out / "quantization_report.json").read_text(encoding="utf-8"))
    assert report["calibration_source"].startswith("largeforge-builtin")
    assert report["calibration_samples"] > 40 and report["heldout_samples"] > 10


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "no-such-model"], "cannot resolve model 'no-such-model'"),
        (["--group-size", "128"], "group_size 128 does not divide"),
        (["--bits", "16"], "bits = 16 is invalid"),
        (["--calibration", "{empty}"], "no calibration text"),
        (["--calibration", "wikitext-missing"], "neither an existing file"),
        (["--output", "{existing}"], "already exists"),
    ],
)
def test_bad_input_is_one_line(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "config.json").write_text("{}", encoding="utf-8")
    base = {"--model": str(tiny_model_dir), "--output": str(tmp_path / "out"), "--calibration": str(empty)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value.format(empty=empty, existing=existing)
    argv = ["quant", "awq"] + [item for pair in base.items() for item in pair]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and expected in err and "\n" not in err
    assert not (tmp_path / "out").exists()
