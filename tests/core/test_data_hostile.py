"""Deeply nested JSON and byte-order marks.

``data validate`` / ``data convert`` on a row nested 10,000 levels deep give a one-line error
naming the file and the row (or list it as an invalid row), never a ``RecursionError``; a UTF-8
BOM is accepted; a UTF-16 file is refused naming its encoding and how to convert it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main

GOOD = {"instruction": "Name a colour", "output": "Blue is a colour."}
DEEP = {"array": "[" * 10000 + "]" * 10000, "object": '{"a":' * 10000 + "1" + "}" * 10000}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_row_in_jsonl_is_an_invalid_row(capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n" + DEEP[kind] + "\n")
    code, out, err = run(capsys, "data", "validate", str(path))
    assert code == 1 and "Traceback" not in out + err
    assert "rows: 3  valid: 2  invalid: 1" in out
    assert "line 3:" in out
    code, out, err = run(capsys, "data", "convert", str(path), str(tmp_path / "out.jsonl"), "--to", "sharegpt")
    assert "Traceback" not in out + err and "rejected line 3" in err
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_row_in_json_array_is_one_line_naming_file_and_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" + json.dumps(GOOD) + ", " + json.dumps({"s": "[[[{{"}) + ", " + DEEP[kind] + "]")
    for args in (
        ["data", "validate", str(path)],
        ["data", "convert", str(path), str(tmp_path / "o.jsonl"), "--to", "sharegpt"],
    ):
        code, _, err = run(capsys, *args)
        assert code != 0
        assert err.strip() == f"error: {path}: row 2: JSON nested too deeply to read", err


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_utf8_bom_is_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bom{suffix}"
    text = json.dumps([GOOD, GOOD]) if suffix == ".json" else f"{json.dumps(GOOD)}\r\n{json.dumps(GOOD)}\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, out, err = run(capsys, "data", "validate", str(path))
    assert code == 0, out + err
    assert "format: alpaca  rows: 2  valid: 2  invalid: 0" in out


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16 (little-endian)"), ("utf-16-be", "UTF-16 (big-endian)"), ("utf-32", "UTF-32 (little-endian)")],
)
def test_utf16_and_utf32_say_the_encoding_and_how_to_convert(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, encoding: str, name: str
) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_bytes(json.dumps(GOOD).encode(encoding))
    code, _, err = run(capsys, "data", "validate", str(path))
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert f"the file is {name} encoded" in err and "iconv -f UTF-" in err and "-t UTF-8" in err
