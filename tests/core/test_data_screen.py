"""Fast validation (screens and files split across processes) reports exactly what the
row-by-row check reports."""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from largeforge.data import DataValidator, parts, reader
from largeforge.data.detect import get_format
from largeforge.data.reader import decode_rows

TEXTS = [
    "a fine instruction",
    "",
    " ",
    "\t\n",
    "   \n\t  ",
    "\u3000\u3000\u3000",
    "ok",
    "x",
    " y ",
    "\u3000",
    "Hi {{name}}!",
    "{{ author }}",
    "a longer answer that is perfectly fine",
    "é",
]
SPEAKERS = ["human", "gpt", "system", "function_call", "observation", "user", "assistant", "bot"]


def alpaca_row(rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instruction": rng.choice(TEXTS),
        "input": rng.choice(TEXTS + [""] * 6),
        "output": rng.choice(TEXTS),
    }
    if rng.random() < 0.2:
        row["system"] = rng.choice(TEXTS)
    if rng.random() < 0.2:
        row["history"] = [[rng.choice(TEXTS), rng.choice(TEXTS)] for _ in range(rng.randint(0, 2))]
    return row


def sharegpt_row(rng: random.Random) -> dict[str, Any]:
    turns = rng.randint(0, 5)
    if rng.random() < 0.7:  # mostly well-formed, so both screens and exact checks are exercised
        speakers = (["system"] if rng.random() < 0.2 else []) + ["human", "gpt"] * rng.randint(1, 3)
    else:
        speakers = [rng.choice(SPEAKERS) for _ in range(turns)]
    row: dict[str, Any] = {"conversations": [{"from": s, "value": rng.choice(TEXTS)} for s in speakers]}
    if rng.random() < 0.2:
        row["system"] = rng.choice([*TEXTS, ""])
    return row


def messages_row(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.7:
        roles = (["system"] if rng.random() < 0.2 else []) + ["user", "assistant"] * rng.randint(1, 3)
    else:
        names = ["system", "user", "assistant", "tool", "function", "bot"]
        roles = [rng.choice(names) for _ in range(rng.randint(0, 5))]
    messages: list[dict[str, Any]] = []
    for role in roles:
        message: dict[str, Any] = {"role": role, "content": rng.choice([*TEXTS, None])}
        if role == "assistant" and rng.random() < 0.1:
            message["tool_calls"] = [{"name": "f", "arguments": rng.choice(["{}", "{{city}}"])}]
        messages.append(message)
    row: dict[str, Any] = {"messages": messages}
    if rng.random() < 0.3:
        row["label"] = rng.random() < 0.5
    return row


def write(path: Path, rows: list[dict[str, Any]], jsonl: bool) -> Path:
    if jsonl:  # with blank lines, so line numbers and row indices differ
        path.write_text("".join(json.dumps(r) + ("\n\n" if i % 7 == 3 else "\n") for i, r in enumerate(rows)))
    else:
        path.write_text(json.dumps(rows, indent=1 if len(rows) % 2 else None))
    return path


def issues(report: Any) -> tuple[Any, ...]:
    return (
        report.total,
        report.valid,
        report.invalid,
        [(e.index, e.line, e.reason) for e in report.errors],
        [(w.index, w.line, w.reason) for w in report.warnings],
    )


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
@pytest.mark.parametrize(
    ("fmt", "make"), [("alpaca", alpaca_row), ("sharegpt", sharegpt_row), ("messages", messages_row)]
)
def test_screened_report_equals_row_by_row_report(tmp_path, fmt, make, jsonl):
    rng = random.Random(7)
    path = write(tmp_path / f"rows.{'jsonl' if jsonl else 'json'}", [make(rng) for _ in range(600)], jsonl)
    exact = DataValidator(screen=False, workers=1).validate_file(path, fmt)
    screened = DataValidator(workers=1).validate_file(path, fmt)
    assert exact.invalid > 50 and exact.valid > 50 and exact.warnings  # the data exercises every rule
    assert issues(screened) == issues(exact)


@pytest.fixture(params=["mapped", "read"])
def small_parts(request, monkeypatch):
    """Split even small files across processes (memory-mapped, as large files are, or read),
    even when an earlier test left a harmless thread behind (tqdm's monitor)."""
    monkeypatch.setattr(parts, "MIN_PART_BYTES", 1024)
    monkeypatch.setattr(reader, "MAP_FROM_BYTES", 1 if request.param == "mapped" else 1 << 40)
    monkeypatch.setattr(parts.threading, "active_count", lambda: 1)


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
@pytest.mark.parametrize(("fmt", "make"), [("alpaca", alpaca_row), ("sharegpt", sharegpt_row)])
def test_report_split_across_processes_equals_one_process(tmp_path, monkeypatch, small_parts, fmt, make, jsonl):
    rng = random.Random(11)
    rows = [make(rng) for _ in range(3000)]
    path = write(tmp_path / f"rows.{'jsonl' if jsonl else 'json'}", rows, jsonl)
    data = path.read_bytes()
    pieces = parts.split(data, 3, jsonl=jsonl)
    assert pieces is not None and len(pieces) == 3
    assert parts.default_workers(len(data)) >= 2 or parts.available_cpus() < 2
    # Each part decodes on its own, and together they hold every row once.
    texts = [piece.of(data) for piece in pieces]
    decoded = [
        row
        for text in texts
        for row in ([json.loads(line) for line in text.splitlines() if line.strip()] if jsonl else json.loads(text))
    ]
    assert decoded == rows
    one = DataValidator(workers=1).validate_file(path, fmt)
    monkeypatch.setattr(DataValidator, "_check", None)  # no falling back to one process
    split = DataValidator(workers=3).validate_file(path, fmt)
    assert issues(split) == issues(one)
    assert path.read_bytes() == data  # workers patch brackets into their own view only
    if jsonl:
        assert any(e.line != e.index + 1 for e in one.errors)  # line numbers shifted by blank lines


def test_a_failing_worker_means_one_process(tmp_path, small_parts, monkeypatch):
    rng = random.Random(5)
    path = write(tmp_path / "rows.json", [alpaca_row(rng) for _ in range(2000)], jsonl=False)
    data = path.read_bytes()
    pieces = parts.split(data, 2, jsonl=False)
    assert pieces is not None
    assert parts.map_parts(lambda part: (len(part), None), data, pieces) == [len(p.of(data)) for p in pieces]
    assert parts.map_parts(lambda part: (1 // 0, None), data, pieces) is None  # raised
    assert parts.map_parts(lambda part: os._exit(3), data, pieces) is None  # died
    expected = issues(DataValidator(workers=1).validate_file(path, "alpaca"))
    monkeypatch.setattr(DataValidator, "_check_whole", lambda *args, **kwargs: 1 // 0)
    assert issues(DataValidator(workers=2).validate_file(path, "alpaca")) == expected


def test_no_fork_while_other_threads_run():
    size = 64 * parts.MIN_PART_BYTES
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parts.default_workers(size) == 1
    finally:
        stop.set()
        thread.join()
    assert parts.default_workers(size) == parts.available_cpus() or threading.active_count() > 1
    assert parts.default_workers(parts.MIN_PART_BYTES - 1) == 1


def test_a_cut_inside_a_nested_object_is_detected(tmp_path, small_parts):
    """Turns whose first key is also the rows' first key: cuts land between turns, the parts do
    not decode, and the file is checked in one process with the same report."""
    rows = [
        {
            "conversations": [
                {"conversations": 0, "from": "human", "value": f"question {i} " * 30},
                {"conversations": 0, "from": "gpt", "value": "" if i % 50 == 0 else "answer"},
            ]
        }
        for i in range(400)
    ]
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(rows))
    data = path.read_bytes()
    pieces = parts.split(data, 2, jsonl=False)
    assert pieces is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(pieces[0].of(data))
    report = DataValidator(workers=2).validate_file(path, "sharegpt")
    assert (report.total, report.invalid) == (400, 8)
    assert issues(report) == issues(DataValidator(screen=False, workers=1).validate_file(path, "sharegpt"))


def test_json_lines_fast_path_keeps_line_numbers(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n\n   \n{"instruction": "c", "output": "d"}\n')
    found = [(index, line) for index, line, *_ in decode_rows(path, get_format("alpaca", None, None))]
    assert found == [(0, 1), (1, 4)]


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
def test_format_detection_samples_only_the_head_of_a_large_file(tmp_path, monkeypatch, jsonl):
    rng = random.Random(3)
    rows = [sharegpt_row(rng) for _ in range(400)]
    path = write(tmp_path / f"rows.{'jsonl' if jsonl else 'json'}", rows, jsonl)
    monkeypatch.setattr(reader, "SAMPLE_BYTES", 4096)
    assert reader.sample_rows(path, limit=200) == rows[:200]  # more than the head holds: whole file
    monkeypatch.setattr(reader, "raw_rows", None)  # the whole file is not read when the head suffices
    assert reader.sample_rows(path, limit=10) == rows[:10]


def test_placeholder_inside_a_tool_call_is_found(tmp_path):
    call = {
        "role": "assistant",
        "content": "Let me look that up.",
        "tool_calls": [{"name": "weather", "arguments": '{"city": "{{city}}"}'}],
    }
    rows = [
        {"messages": [{"role": "user", "content": "What is the weather like today?"}, call]},
        {"messages": [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hello!"}]},
    ]
    path = tmp_path / "calls.json"
    path.write_text(json.dumps(rows))
    report = DataValidator(workers=1).validate_file(path, "messages")
    assert [(w.index, w.reason) for w in report.warnings] == [(0, "unfilled template placeholder {{city}}")]
