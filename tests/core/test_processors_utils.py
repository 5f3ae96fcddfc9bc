"""TextProcessor, ChatFormatter, io and logging helpers."""

from __future__ import annotations

import json
import logging

import pytest

import largeforge
from largeforge.data import ChatFormatter, TextProcessor
from largeforge.utils.io import atomic_write, load_json, load_jsonl, save_json, save_jsonl
from largeforge.utils.logging import JSONFormatter, RequestIdFilter, get_logger, request_context


def test_clean_text():
    assert TextProcessor.clean_text("  Hello   world  \n\n  test  ") == "Hello world test"
    assert TextProcessor.clean_text("ﬁ\x00ne") == "fine"  # NFKC ligature, NUL removed


def test_truncate_and_removals():
    assert TextProcessor.truncate("abcdefghij", 6) == "abc..."
    assert TextProcessor.truncate("short", 10) == "short"
    assert TextProcessor.remove_urls("see https://x.org/a?b=1 now") == "see  now"
    assert TextProcessor.remove_emails("mail a.b@c.co please") == "mail  please"
    assert TextProcessor.remove_special_tokens("<s>hi</s>", ["<s>", "</s>"]) == "hi"


def test_chat_formatter_fallback_and_template(tiny_model_dir):
    messages = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}]
    plain = ChatFormatter(None).format_messages(messages)
    assert plain == "<|user|>\nHello\n<|assistant|>\nHi!"
    from transformers import AutoTokenizer

    rendered = ChatFormatter(AutoTokenizer.from_pretrained(tiny_model_dir)).format_messages(messages)
    assert "<|im_start|>user\nHello<|im_end|>" in rendered and "Hi!" in rendered
    alpaca = ChatFormatter(None).format_alpaca({"instruction": "Sum", "input": "1 2", "output": "3"})
    assert alpaca == "<|user|>\nSum\n\n1 2\n<|assistant|>\n3"


def test_truncate_by_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    out = TextProcessor.truncate("one two three four five six", 3, tok)
    assert out.endswith("...") and len(tok.encode(out[:-3], add_special_tokens=False)) == 3


def test_io_round_trips_and_atomic_write(tmp_path):
    save_json({"k": "v", "n": 42}, tmp_path / "a.json")
    assert load_json(tmp_path / "a.json") == {"k": "v", "n": 42}
    save_jsonl([{"a": 1}, {"a": 2}], tmp_path / "b.jsonl")
    assert load_jsonl(tmp_path / "b.jsonl") == [{"a": 1}, {"a": 2}]
    atomic_write(tmp_path / "c.txt", "one")
    atomic_write(tmp_path / "c.txt", "two")
    assert (tmp_path / "c.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.jsonl", "c.txt"]  # no temp files


def test_json_logs_carry_request_id_and_extras():
    logger = get_logger("test.json")
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "hello %s", ("x",), None, extra={"model": "m", "epochs": 3}
    )
    with request_context("req-123"):
        RequestIdFilter().filter(record)
    payload = json.loads(JSONFormatter().format(record))
    assert payload["message"] == "hello x" and payload["request_id"] == "req-123"
    assert payload["model"] == "m" and payload["epochs"] == 3


def test_loggers_live_under_the_largeforge_tree():
    assert get_logger("largeforge.data").name == "largeforge.data"
    assert get_logger("largeforge_train.sft").name == "largeforge.train.sft"  # was largeforge.largeforge_train
    assert get_logger("largeforge_serve.engines.scheduler").name == "largeforge.serve.engines.scheduler"
    assert get_logger("thirdparty").name == "largeforge.thirdparty"


def test_command_process_waits_for_its_ready_line():
    import re

    from largeforge.utils.process import CommandProcess

    proc = CommandProcess(["version"], ready=re.compile(r"LargeForge (\S+)"))
    assert proc.start() == largeforge.__version__
    assert proc.proc is not None and proc.proc.wait(60) == 0
    assert proc.stop() == 0 and "distributions:" in proc.output
    failing = CommandProcess(["data", "validate", "/no/such/file.json"], ready=re.compile(r"never (\S+)"))
    with pytest.raises(RuntimeError, match="exited with 1"):
        failing.start()
    assert "file not found" in failing.output
