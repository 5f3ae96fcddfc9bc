"""``largeforge data …`` on real and broken files: one-line errors, exit codes, no lost rows."""

from __future__ import annotations

import json

import pytest

from largeforge.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("alpaca_en_demo.json", "alpaca", 999),
        ("identity.json", "alpaca", 91),
        ("glaive_toolcall_en_demo.json", "sharegpt", 300),
        ("dpo_en_demo.json", "dpo", 300),
        ("kto_en_demo.json", "messages", 300),
    ],
)
def test_validate_real_files(capsys, shared_data, name, fmt, count):
    code, out, _ = run(capsys, "data", "validate", str(shared_data / name))
    assert code == 0
    assert f"format: {fmt}  rows: {count}  valid: {count}  invalid: 0" in out


def test_validate_lists_every_invalid_row_and_exits_nonzero(capsys, tmp_path):
    rows = [{"instruction": "ok", "output": "fine"}] * 3 + [
        {"instruction": "", "output": "x"},
        {"instruction": "y", "output": 7},
        {"instruction": "z"},
        {"instruction": "w", "output": "v"},
    ]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(rows))
    code, out, _ = run(capsys, "data", "validate", str(path))
    assert code == 1
    assert "rows: 7  valid: 4  invalid: 3" in out
    assert "row 3: instruction is empty" in out
    assert "row 4: output: expected str, got int" in out
    assert "row 5: output: required field is missing" in out
    code, out, _ = run(capsys, "data", "validate", str(path), "--json")
    (report,) = json.loads(out)
    assert [e["index"] for e in report["errors"]] == [3, 4, 5] and report["ok"] is False


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'[{"instruction": "a", "output": "b"}, {"instruction": "c", "out', "truncated JSON"),
        (b'[{"instruction": "a", "output": "b\xff\xfe"}]', "invalid UTF-8 at line 1 (byte 34)"),
        (b'[{"text": "a"}]', "unknown format: rows have keys [text]"),
        (b"", "file is empty"),
        (b'"just a string"', "expected a JSON array of rows or JSON Lines"),
    ],
    ids=["truncated", "utf8", "unknown-format", "empty", "scalar"],
)
def test_broken_files_give_one_line_errors(capsys, tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "data", "validate", str(path))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert "Traceback" not in err + out


def test_jsonl_bad_line_is_a_row_error_with_its_line(capsys, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b'{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output"\n'
        b'{"instruction": "d", "output": "\xff"}\n'
    )
    code, out, _ = run(capsys, "data", "validate", str(path), "--format", "alpaca")
    assert code == 1
    assert "line 3: invalid JSON" in out and "line 4: invalid UTF-8" in out


def test_unknown_format_name(capsys, shared_data):
    code, _, err = run(capsys, "data", "validate", str(shared_data / "identity.json"), "--format", "csv")
    assert code == 1
    assert "unknown data format 'csv' (registered: alpaca, dpo, messages, prompt_completion, sharegpt)" in err


def test_convert_never_drops_rows_silently(capsys, shared_data, tmp_path):
    target = tmp_path / "glaive_alpaca.jsonl"
    code, out, _ = run(
        capsys, "data", "convert", str(shared_data / "glaive_toolcall_en_demo.json"), str(target), "--to", "alpaca"
    )
    rows_out = len(target.read_text().splitlines())
    rejected = [json.loads(line) for line in (tmp_path / "glaive_alpaca.jsonl.rejected.jsonl").read_text().splitlines()]
    assert rows_out + len(rejected) == 300
    assert rejected and all("cannot be written as alpaca" in r["reason"] for r in rejected)
    assert rejected[0]["row"]["conversations"]  # the original row is kept
    assert code == 1 and f"rows in 300, out {rows_out}, rejected {len(rejected)}" in out


def test_convert_round_trip_alpaca_to_sharegpt_and_back(capsys, shared_data, tmp_path):
    mid, back = tmp_path / "s.json", tmp_path / "a.json"
    source = str(shared_data / "alpaca_en_demo.json")
    assert run(capsys, "data", "convert", source, str(mid), "--to", "sharegpt")[0] == 0
    assert run(capsys, "data", "convert", str(mid), str(back), "--to", "alpaca")[0] == 0
    original = json.loads((shared_data / "alpaca_en_demo.json").read_text())
    result = json.loads(back.read_text())
    assert len(result) == 999
    # The user turn joins instruction and input; the output survives unchanged.
    assert [r["output"] for r in result] == [r["output"] for r in original]
    code, _, err = run(capsys, "data", "convert", str(mid), str(back), "--to", "alpaca")
    assert code == 1 and "already exists" in err


def test_stats_and_preview(capsys, shared_data):
    code, out, _ = run(capsys, "data", "stats", str(shared_data / "glaive_toolcall_en_demo.json"), "--json")
    stats = json.loads(out)
    assert code == 0 and stats["rows"] == 300 and stats["with_tool_calls"] > 0
    assert stats["roles"]["tool_call"] > 0 and stats["turns"]["min"] >= 2
    code, out, _ = run(capsys, "data", "preview", str(shared_data / "dpo_en_demo.json"), "-n", "1")
    assert code == 0 and "chosen" in out and "rejected" in out and "row 0 (dpo)" in out
