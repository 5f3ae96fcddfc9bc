"""Every kind of data file people have reaches the same formats and validators: the real samples
written as JSON Lines, Parquet, Arrow, CSV (flat ones) and ``save_to_disk`` folders validate with
the same counts and warnings as the JSON original, convert with nothing lost, and name a bad row
by the same number whatever the file kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from tests.data_sources import SAMPLES, available, kinds_of, sample_rows, write_as


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def report(capsys: pytest.CaptureFixture[str], path: Path | str, *extra: str) -> dict:
    code, out, err = run(capsys, "data", "validate", str(path), "--json", *extra)
    assert code == 0, out + err
    (result,) = json.loads(out)
    return result


CASES = [(sample, kind) for sample in SAMPLES for kind in kinds_of(sample)]


@pytest.mark.parametrize(("sample", "kind"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_each_sample_validates_the_same_from_each_file_kind(capsys, tmp_path, shared_data, sample, kind):
    if not available(kind):
        pytest.skip(f"writing {kind} needs a library this environment lacks")
    rows = sample_rows(shared_data, sample)
    path = write_as(rows, kind, tmp_path / sample)
    original = report(capsys, shared_data / f"{sample}.json")
    result = report(capsys, path)
    assert result["format"] == original["format"] == SAMPLES[sample][0]
    assert (result["total"], result["valid"], result["invalid"]) == (len(rows), len(rows), 0)
    assert [(w["index"], w["reason"]) for w in result["warnings"]] == [
        (w["index"], w["reason"]) for w in original["warnings"]
    ]
    code, out, _ = run(capsys, "data", "stats", str(path), "--json")
    assert code == 0 and json.loads(out)["rows"] == len(rows)


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_each_sample_converts_to_every_writable_kind_and_back_unchanged(capsys, tmp_path, shared_data, sample):
    layout, _, flat = SAMPLES[sample]
    rows = sample_rows(shared_data, sample)
    suffixes = (
        [".jsonl", ".json"] + ([".parquet", ".arrow"] if available("parquet") else []) + ([".csv"] if flat else [])
    )
    for suffix in suffixes:
        out = tmp_path / f"{sample}{suffix}"
        code, text, err = run(capsys, "data", "convert", str(shared_data / f"{sample}.json"), str(out), "--to", layout)
        assert code == 0, text + err
        assert f"rows in {len(rows)}, out {len(rows)}, rejected 0" in text
        back = tmp_path / f"{sample}{suffix}.back.json"
        code, text, err = run(capsys, "data", "convert", str(out), str(back), "--to", layout)
        assert code == 0, text + err
        assert json.loads(back.read_text()) == rows, suffix  # every field of every row, as it was


def test_a_bad_row_has_the_same_number_in_every_file_kind(capsys, tmp_path):
    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(8)]
    rows[5]["output"] = "   "
    expected = {
        "json": "row 5",
        "jsonl": "line 6",
        "csv": "row 5",
        "parquet": "row 5",
        "arrow": "row 5",
        "save_to_disk": "row 5",
    }
    for kind, where in expected.items():
        if not available(kind):
            continue
        path = write_as(rows, kind, tmp_path / f"bad-{kind}")
        code, out, _ = run(capsys, "data", "validate", str(path))
        assert code == 1 and "rows: 8  valid: 7  invalid: 1" in out, (kind, out)
        assert f"invalid {where}: output is empty" in out, (kind, out)


def test_a_large_parquet_file_is_read_batch_by_batch(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from largeforge.data.readers.parquet import ParquetReader
    from largeforge.data.validator import DataValidator

    rows = [{"instruction": f"Question {i}?", "output": f"Answer number {i}."} for i in range(3000)]
    path = write_as(rows, "parquet", tmp_path / "big")
    monkeypatch.setattr(pq, "read_table", None)  # the whole file is never read at once
    batches = list(ParquetReader().batches(str(path), size=500))
    assert len(batches) >= 6 and max(len(b.rows) for b in batches) <= 500
    assert [b.start for b in batches] == sorted({b.start for b in batches})
    assert sum(len(b.rows) for b in batches) == 3000
    assert DataValidator().validate_file(path).valid == 3000


def test_every_file_of_a_multi_file_validate_is_reported(capsys, tmp_path):
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps([{"instruction": "Name a colour.", "output": "Blue."}]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "Hi there", "output": ""}) + "\n")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    code, out, err = run(capsys, "data", "validate", str(ok), str(bad), str(empty))
    assert code == 1
    assert f"{ok}: all 1 rows valid" in out
    assert f"{bad}  format: alpaca  rows: 1  valid: 0  invalid: 1" in out and "line 1: output is empty" in out
    assert f"error: {empty}: file is empty" in err
    code, out, _ = run(capsys, "data", "validate", str(ok), str(bad), str(empty), "--json")
    assert [(r["path"], r["ok"]) for r in json.loads(out)] == [(str(ok), True), (str(bad), False), (str(empty), False)]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_converted_files_follow_the_umask(tmp_path, shared_data, mask):
    import os

    previous = os.umask(mask)
    try:
        assert (
            main(
                ["data", "convert", str(shared_data / "identity.json"), str(tmp_path / "out.jsonl"), "--to", "messages"]
            )
            == 0
        )
    finally:
        os.umask(previous)
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o666 & ~mask


def test_input_through_a_pipe(tmp_path, shared_data):
    import shlex
    import subprocess
    import sys

    src = shared_data / "identity.json"
    cli = f"{shlex.quote(sys.executable)} -m largeforge.cli.main"
    out = tmp_path / "p.jsonl"
    script = f"{cli} data validate <(cat {src}) && cat {src} | {cli} data convert - {out} --to messages"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 91 rows valid" in result.stdout and "rows in 91, out 91, rejected 0" in result.stdout
    assert len(out.read_text().splitlines()) == 91


def test_a_hub_id_reads_from_the_local_cache_offline(capsys, tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants
    import pyarrow.parquet as pq

    train = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(5)]
    repo = tmp_path / "hub" / "datasets--someone--qa"
    snapshot = repo / "snapshots" / ("a" * 40)
    (snapshot / "data").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    pq.write_table(pa.Table.from_pylist(train), snapshot / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(train[:2]), snapshot / "data" / "test-00000-of-00001.parquet")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert report(capsys, "someone/qa")["total"] == 5  # the train split
    assert report(capsys, "someone/qa:test")["total"] == 2
    # what datasets.load_dataset prepared (Arrow stream files), for an id the hub cache lacks
    prepared = tmp_path / "datasets" / "other___chat" / "default" / "0.0.0" / "f00d"
    prepared.mkdir(parents=True)
    table = pa.Table.from_pylist(train[:3])
    with pa.ipc.new_stream(str(prepared / "chat-train.arrow"), table.schema) as writer:
        writer.write_table(table)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    assert report(capsys, "other/chat")["total"] == 3
    code, _, err = run(capsys, "data", "validate", "other/chat:validation")
    assert code == 1 and "other/chat:validation: no such file or folder" in err
