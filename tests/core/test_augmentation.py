"""Paraphrase augmentation against a teacher on loopback speaking the OpenAI chat shape: rows
added with the same replies, bad lines rejected, answers cached (a re-run asks nothing), the
output a valid data file; an unreachable teacher is one line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from largeforge.augmentation import parse_paraphrases
from largeforge.cli.main import main
from largeforge.data import load_conversations


class Teacher(BaseHTTPRequestHandler):
    """Answers every chat request with two good rewrites, a numbered one, and two bad lines."""

    requests: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Teacher.requests.append(body)
        question = body["messages"][-1]["content"].rsplit("Question: ", 1)[1]
        reply = "\n".join(
            [
                f"1. Could you tell me: {question}",
                f"- I'd like to know: {question}",
                question,  # the prompt itself
                "",
                f"Please answer this: {question}",
            ]
        )
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def teacher_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Teacher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Teacher.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_parse_paraphrases_keeps_valid_lines_only():
    kept, rejected = parse_paraphrases("1) How are you?\nHow are you?\n\n* Hi there\n" + "x" * 200, "Hello?", 5)
    assert kept == ["How are you?", "Hi there"]
    assert len(rejected) == 2  # the repeat and the far longer line
    assert parse_paraphrases("a\nb\nc", "q", 2)[0] == ["a", "b"]


def test_augment_adds_cached_validated_paraphrases(tmp_path: Path, teacher_url: str, capsys):
    source = tmp_path / "docs.json"
    rows = [
        {"instruction": "Which command serves a model?", "output": "Run `largeforge serve inference`."},
        {"instruction": "How do I validate my data?", "output": "Run `largeforge data validate FILE`."},
    ]
    source.write_text(json.dumps(rows))
    out = tmp_path / "docs_aug.jsonl"
    args = ["augment", str(source), str(out), "--teacher-url", teacher_url, "--paraphrases", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "6 rows (2 original + 4 paraphrases; teacher asked 2×, 0 from" in printed
    augmented = load_conversations(out, "auto")
    assert [c.messages[0].content for c in augmented] == [
        "Which command serves a model?",
        "How do I validate my data?",
        "Could you tell me: Which command serves a model?",
        "I'd like to know: Which command serves a model?",
        "Could you tell me: How do I validate my data?",
        "I'd like to know: How do I validate my data?",
    ]
    assert augmented[2].messages[-1].content == "Run `largeforge serve inference`."  # the reply is kept
    assert len(Teacher.requests) == 2 and "in 2 different ways" in Teacher.requests[0]["messages"][0]["content"]
    # A re-run asks the teacher nothing and writes the same rows.
    first = out.read_text()
    assert main(args) == 0
    assert "teacher asked 0×, 2 from" in capsys.readouterr().out
    assert len(Teacher.requests) == 2 and out.read_text() == first


def test_unreachable_teacher_is_one_line(tmp_path: Path, capsys):
    source = tmp_path / "d.json"
    source.write_text(json.dumps([{"instruction": "q?", "output": "a"}]))
    code = main(["augment", str(source), str(tmp_path / "o.jsonl"), "--teacher-url", "http://127.0.0.1:9/v1"])
    err = capsys.readouterr().err
    assert code == 1 and "teacher default@http://127.0.0.1:9/v1:" in err and "Traceback" not in err
