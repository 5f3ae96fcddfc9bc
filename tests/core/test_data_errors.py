"""Bad input to ``largeforge data …``: each case is one line on stderr naming what and where, and a
non-zero exit; never a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from largeforge.cli.main import main

GOOD = [{"instruction": "Name a colour.", "output": "Blue is a colour."}] * 3


def _parquet(tmp: Path, cut: bool) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD), path)
    if cut:
        path.write_bytes(path.read_bytes()[:40])
    return path


def _saved(tmp: Path, splits: tuple[str, ...]) -> Path:
    folder = tmp / "saved"
    folder.mkdir()
    if splits:
        (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    else:
        (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    return folder


def _arrow_file(tmp: Path, name: str, text: str) -> Path:
    """A file pyarrow is asked to read (the reading needs pyarrow, as the error says without it)."""
    pytest.importorskip("pyarrow")
    return _file(tmp, name, text)


def _file(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _registry(tmp: Path, entries: object) -> Path:
    return _file(tmp, "dataset_info.json", json.dumps(entries))


def _read_only(tmp: Path) -> Path:
    folder = tmp / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "out.jsonl" if not os.access(folder, os.W_OK) else Path("/sys/out.jsonl")  # root writes anyway


def _good(tmp: Path) -> Path:
    return _file(tmp, "good.json", json.dumps(GOOD))


#: case → (arguments, built in a temporary folder; the words the one line must hold)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "parquet that is not parquet": (
        lambda t: ["validate", str(_arrow_file(t, "x.parquet", "hello"))],
        "x.parquet: not a readable Parquet file",
    ),
    "truncated parquet": (lambda t: ["validate", str(_parquet(t, cut=True))], "rows.parquet: not a readable Parquet"),
    "arrow that is not arrow": (
        lambda t: ["validate", str(_arrow_file(t, "x.arrow", "hello there"))],
        "x.arrow: not a readable Arrow file",
    ),
    "csv with an unclosed quote": (
        lambda t: ["validate", str(_file(t, "x.csv", 'instruction,output\n"a,b\n'))],
        "x.csv: line 2: not valid CSV",
    ),
    "csv without rows or header": (lambda t: ["validate", str(_file(t, "x.csv", ""))], "x.csv: file is empty"),
    "csv with a header named twice": (
        lambda t: ["validate", str(_file(t, "x.csv", "output,output\na,b\n"))],
        "column 'output' is named twice",
    ),
    "folder that is no dataset": (lambda t: ["validate", str(t)], "is a directory without data files"),
    "missing file": (lambda t: ["validate", str(t / "nope.parquet")], "nope.parquet: file not found"),
    "hub id not in the cache": (
        lambda t: ["validate", "someone/not-cached-anywhere"],
        "not in the local cache (offline: HF_HUB_OFFLINE is set)",
    ),
    "save_to_disk folder missing its arrow file": (
        lambda t: ["validate", str(_saved(t, ()))],
        "data-00000-of-00001.arrow: file not found",
    ),
    "DatasetDict without a train split": (
        lambda t: ["validate", str(_saved(t, ("test", "dev")))],
        "a DatasetDict with splits test, dev: give the folder of one split",
    ),
    "rows of no layout": (
        lambda t: ["validate", str(_file(t, "x.json", json.dumps([{"q": "a", "a": "b"}])))],
        "unknown format: rows have keys [a, q]",
    ),
    "malformed --columns": (
        lambda t: ["validate", str(_good(t)), "--columns", "instruction"],
        "--columns: expected name=column pairs",
    ),
    "unknown name in --columns": (
        lambda t: ["validate", str(_good(t)), "--columns", "instrction=q"],
        "'instrction' is not a field of any data format",
    ),
    "name not in the registry": (
        lambda t: ["validate", "nope", "--dataset-info", str(_registry(t, {}))],
        "nope: no such file, and not a dataset of",
    ),
    "registry that is not JSON": (
        lambda t: ["validate", "x", "--dataset-info", str(_file(t, "dataset_info.json", "{oops"))],
        "invalid JSON",
    ),
    "registry entry without a file": (
        lambda t: ["validate", "x", "--dataset-info", str(_registry(t, {"x": {"formatting": "alpaca"}}))],
        "x: needs file_name",
    ),
    "registry entry with an unknown formatting": (
        lambda t: [
            "validate",
            "x",
            "--dataset-info",
            str(_registry(t, {"x": {"file_name": "a.json", "formatting": "openai"}})),
        ],
        "formatting 'openai' is not supported",
    ),
    "output is a directory": (
        lambda t: ["convert", str(_good(t)), str(t), "--to", "messages"],
        "is a directory; give the name of a file to write",
    ),
    "output in a read-only folder": (
        lambda t: ["convert", str(_good(t)), str(_read_only(t)), "--to", "messages"],
        "cannot write: permission denied",
    ),
    "output of no known kind": (
        lambda t: ["convert", str(_good(t)), str(t / "out.txt"), "--to", "messages"],
        "cannot tell which kind of file to write",
    ),
    "nested rows to CSV": (
        lambda t: ["convert", str(_good(t)), str(t / "out.csv"), "--to", "messages"],
        "CSV holds flat rows only, and row 0's 'messages' is a list",
    ),
    "output that exists": (
        lambda t: ["convert", str(_good(t)), str(_file(t, "o.jsonl", "")), "--to", "messages"],
        "already exists (pass --overwrite",
    ),
    "output over the input": (
        lambda t: ["convert", str(_good(t)), str(t / "good.json"), "--to", "alpaca", "--overwrite"],
        "output would overwrite the input",
    ),
    "convert without --to": (lambda t: ["convert", str(_good(t)), str(t / "o.jsonl")], "convert needs --to"),
    "missing --config file": (
        lambda t: ["--config", str(t / "none.yaml"), "data", "validate", str(_good(t))],
        "none.yaml: file not found",
    ),
    "unknown key in the config's data section": (
        lambda t: ["--config", str(_file(t, "c.yaml", "data: {formats: alpaca}\n")), "data", "validate", str(_good(t))],
        "data.formats: not a data setting",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_a_non_zero_exit(capsys, tmp_path, case):
    build, words = CASES[case]
    args = build(tmp_path)
    at = args.index("--config") + 2 if "--config" in args else 0
    code = main([*args[:at], "data", *args[at:]] if "data" not in args else args)
    out, err = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_a_missing_config_file_says_so(capsys, tmp_path):
    assert main(["--config", str(tmp_path / "none.yaml"), "data", "validate", "x.json"]) != 0
    assert capsys.readouterr().err.strip() == f"error: --config {tmp_path / 'none.yaml'}: file not found"


def test_the_config_data_section_is_honoured(capsys, tmp_path):
    rows = [{"question": "What is the capital of France?", "answer": "Paris is the capital of France."}] * 2
    data = _file(tmp_path, "qa.json", json.dumps(rows))
    config = _file(
        tmp_path, "c.yaml", "data:\n  columns: {instruction: question, output: answer}\n  convert: {to: messages}\n"
    )
    assert main(["--config", str(config), "data", "validate", str(data)]) == 0
    assert "format: alpaca  rows: 2  valid: 2" in capsys.readouterr().out
    assert main(["--config", str(config), "data", "convert", str(data), str(tmp_path / "m.jsonl")]) == 0
    first = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])
    assert first["messages"][0] == {"role": "user", "content": "What is the capital of France?"}


def test_reading_parquet_without_pyarrow_says_what_to_install(capsys, tmp_path, monkeypatch):
    path = _file(tmp_path, "rows.parquet", "PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as in an install of largeforge-core alone
    assert main(["data", "validate", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == f"error: {path}: reading or writing Parquet needs pyarrow: pip install pyarrow (it comes with "
        'largeforge-train, or pip install "largeforge-core[data]")'
    )


def test_a_bad_csv_row_is_an_invalid_row_with_its_number(capsys, tmp_path):
    path = _file(tmp_path, "x.csv", "instruction,output\nName a colour.,Blue is one.\nonly one cell\n")
    assert main(["data", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "rows: 2  valid: 1  invalid: 1" in out and "row 1: has 1 cells, the header has 2 columns" in out


def test_the_config_eval_section_is_honoured(capsys, tmp_path):
    config = _file(tmp_path, "c.yaml", "eval: {evaluator: no_such_evaluator}\n")
    assert main(["--config", str(config), "eval", str(_good(tmp_path)), "--model", "x"]) == 1
    assert "unknown evaluator 'no_such_evaluator'" in capsys.readouterr().err
    assert main(["--config", str(config), "eval", str(_good(tmp_path)), "--model", "x", "--evaluator", "nope2"]) == 1
    assert "unknown evaluator 'nope2'" in capsys.readouterr().err  # the flag wins
