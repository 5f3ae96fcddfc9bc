"""Calibration sources, sampling, truncation and caching (spec 6.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.errors import DataError
from largeforge_quant.calibration import (
    BUILTIN_SOURCE,
    CalibrationSourceError,
    cache_dir,
    default_calibration_texts,
    get_calibration_data,
    load_calibration_split,
    load_samples,
    prepare_calibration_dataset,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_text_file_one_sample_per_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph\nstill first.\n\nSecond one.\n\n\n", encoding="utf-8")
    assert [s.text for s in load_samples(str(path))] == ["First paragraph\nstill first.", "Second one."]
    lines = tmp_path / "lines.txt"
    lines.write_text("one\ntwo\nthree\n", encoding="utf-8")
    assert [s.text for s in load_samples(str(lines))] == ["one", "two", "three"]


def test_jsonl_text_rows(tmp_path: Path) -> None:
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ("alpha", "  ", "beta")), encoding="utf-8")
    assert [s.text for s in load_samples(str(path))] == ["alpha", "beta"]


def test_alpaca_rows_render_with_the_chat_template(alpaca_small: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    samples = load_samples(str(alpaca_small), tokenizer)
    row = json.loads(alpaca_small.read_text(encoding="utf-8"))[0]
    assert len(samples) == 24
    first = samples[0]
    assert first.prompt.startswith("<|im_start|>") and first.prompt.endswith("<|im_start|>assistant\n")
    assert row["instruction"] in first.prompt
    assert first.completion.startswith(row["output"])


def test_preference_rows_calibrate_on_the_chosen_answer(shared_data: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads((shared_data / "dpo_en_demo.json").read_text(encoding="utf-8"))
    samples = load_samples(str(shared_data / "dpo_en_demo.json"), tokenizer)
    assert len(samples) == len(rows)
    assert samples[0].completion.startswith(rows[0]["chosen"]["value"][:40])


def test_split_is_seeded_disjoint_and_truncated(alpaca_small: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    split = load_calibration_split(str(alpaca_small), tokenizer, num_samples=10, num_heldout=5)
    again = load_calibration_split(str(alpaca_small), tokenizer, num_samples=10, num_heldout=5)
    other = load_calibration_split(str(alpaca_small), tokenizer, num_samples=10, seed=1)
    assert split.texts == again.texts and split.texts != other.texts
    assert len(split.texts) == 10 and len(split.heldout) == 5 and split.total == 24
    assert not {h.text for h in split.heldout} & set(split.texts)
    short = load_calibration_split(str(alpaca_small), tokenizer, num_samples=10, seq_length=16)
    assert all(len(tokenizer.encode(t, add_special_tokens=False)) <= 16 for t in short.texts)
    assert all(full.startswith(cut) for full, cut in zip(split.texts, short.texts, strict=True))


def test_more_samples_than_rows_uses_them_all(alpaca_small: Path) -> None:
    assert len(get_calibration_data(str(alpaca_small), num_samples=500)) == 24


def test_sources_are_cached_and_invalidated_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    assert [s.text for s in load_samples(str(path))] == ["a", "b"]
    cached = list(cache_dir().glob("*.json"))
    assert len(cached) == 1
    cached[0].write_text(json.dumps([["", "from cache"]]), encoding="utf-8")
    assert [s.text for s in load_samples(str(path))] == ["from cache"]
    path.write_text("c\nd\ne\n", encoding="utf-8")  # new size and mtime: a new cache entry
    assert [s.text for s in load_samples(str(path))] == ["c", "d", "e"]


def test_named_dataset_missing_locally_says_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    with pytest.raises(CalibrationSourceError) as info:
        load_calibration_split("wikitext")
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message and "--calibration" in message


def test_unknown_source_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(CalibrationSourceError, match="neither an existing file"):
        load_samples(str(tmp_path / "missing.jsonl"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no calibration text"):
        load_samples(str(empty))
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps([{"foo": 1}]), encoding="utf-8")
    with pytest.raises(DataError, match="'text' field"):
        load_samples(str(junk))


def test_saved_dataset_directory(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": ["x y z", ""]}).save_to_disk(str(tmp_path / "ds"))
    assert [s.text for s in load_samples(str(tmp_path / "ds"))] == ["x y z"]


def test_prepare_calibration_dataset_truncates(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ds = prepare_calibration_dataset(["word " * 100, "short", " "], tokenizer, seq_length=12)
    assert ds.column_names == ["input_ids", "attention_mask"] and len(ds) == 2
    assert len(ds[0]["input_ids"]) == 12 and len(ds[1]["input_ids"]) < 12
    with pytest.raises(DataError, match="empty"):
        prepare_calibration_dataset(["", "  "], tokenizer)


def test_builtin_default_set_is_small_diverse_and_used_without_a_source(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Issue 15, defect 5: no --calibration means LargeForge's own set, read from the package."""
    texts = default_calibration_texts()
    assert 60 <= len(texts) <= 200 and len(set(texts)) == len(texts)
    joined = "\n".join(texts)
    for marker in ("def ", "SELECT ", "function ", "Москва", "长城", "富士山", "القاهرة", "<tool_call>", "| Country"):
        assert marker in joined, marker
    split = load_calibration_split(None, tokenizer, num_samples=128, num_heldout=40, seq_length=64)
    assert split.source == BUILTIN_SOURCE
    # too small for 128 + 40: a quarter is held out, the rest calibrates, disjoint
    assert (len(split.calibration), len(split.heldout)) == (len(texts) - len(texts) // 4, len(texts) // 4)
    assert not {s.text for s in split.heldout} & {s.text for s in split.calibration}


def test_llmcompressor_logs_go_to_logging_not_a_stale_stdout(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, item 18: llm-compressor's loguru sink was the stdout of its import (pytest's
    capture, closed later: hundreds of "I/O operation on closed file" blocks)."""
    import logging

    from loguru import logger as loguru
    from loguru._simple_sinks import StreamSink

    from largeforge_quant.llmc_logging import route_llmcompressor_logs

    route_llmcompressor_logs()
    # The CLI's logging set-up (run by earlier tests) stops propagation to the root, where caplog listens.
    monkeypatch.setattr(logging.getLogger("largeforge"), "propagate", True)
    assert not [h for h in loguru._core.handlers.values() if isinstance(h._sink, StreamSink)]
    with caplog.at_level(logging.WARNING, logger="largeforge.llmcompressor"):
        loguru.warning("no accelerator available")
    assert "no accelerator available" in caplog.text
