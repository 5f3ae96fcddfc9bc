"""Upstream answers restated in OpenAI's shapes (``largeforge_serve.server.conform``), as the
gateway relays them from llama.cpp and vLLM: required-but-null fields added, the client's model
name, errors normalised, SSE events rewritten whatever the chunking. (The same against real
engines: tests/e2e/test_openai_conformance.py, tests/vllm/test_vllm_conformance.py.)"""

from __future__ import annotations

import json

import msgspec

from largeforge_serve.server.conform import EventRewriter, conform_answer, conform_error
from tests.contract.openai_schema import sse_events, violations

LLAMA_CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "base",
    "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
TOKEN = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}


def test_a_chat_answer_gets_what_openai_requires() -> None:
    assert violations("chat", LLAMA_CHAT)
    fixed = conform_answer(json.loads(json.dumps(LLAMA_CHAT)), "tiny")
    assert violations("chat", fixed) == []
    assert fixed["model"] == "tiny"
    assert fixed["choices"][0]["message"]["refusal"] is None and fixed["choices"][0]["logprobs"] is None


def test_streamed_events_are_rewritten_across_any_chunking() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "base",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": {"content": [TOKEN]}}],
    }
    stream = (
        b": keep-alive\r\n\r\n"
        + b"data: "
        + json.dumps(chunk).encode()
        + b"\n\n"
        + b'error: {"code": 500, "message": "slot died", "type": "server_error"}\n\n'
        + b"data: [DONE]\n\n"
    )
    for size in (1, 7, len(stream)):
        rewriter = EventRewriter("tiny")
        out = b"".join(rewriter.feed(stream[i : i + size]) for i in range(0, len(stream), size)) + rewriter.flush()
        first, error = sse_events(out.decode())
        assert violations("chat.chunk", first) == [] and first["model"] == "tiny"
        assert first["choices"][0]["logprobs"]["refusal"] is None and first["choices"][0]["finish_reason"] is None
        assert error == {"error": {"message": "slot died", "type": "server_error", "param": None, "code": None}}
        assert out.startswith(b": keep-alive\n\n")


def test_errors_are_normalised() -> None:
    llama = b'{"error": {"code": 400, "message": "bad", "type": "invalid_request_error"}}'
    vllm_flat = b'{"object": "error", "message": "too long", "type": "BadRequestError", "param": null, "code": 400}'
    for status, content in ((400, llama), (400, vllm_flat), (502, b"<html>proxy</html>"), (404, b'{"error": "nope"}')):
        body = msgspec.json.decode(conform_error(status, content))
        assert violations("error", body) == [], body
        assert body["error"]["code"] is None
    mapped = msgspec.json.decode(conform_error(400, llama, lambda status, error: ("context_length_exceeded", "prompt")))
    assert (mapped["error"]["code"], mapped["error"]["param"]) == ("context_length_exceeded", "prompt")
    assert msgspec.json.decode(conform_error(400, llama))["error"]["type"] == "invalid_request_error"
