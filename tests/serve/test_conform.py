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


LLAMA_LAST = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "base",
    "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
    "timings": {"predicted_n": 3},
}


def test_usage_on_a_last_legacy_chunk_moves_to_a_chunk_of_its_own() -> None:
    """llama.cpp sends usage on its last legacy-completion chunk, asked for or not; OpenAI sends
    it alone (empty ``choices``) and only when ``include_usage`` asks."""
    stream = b"data: " + json.dumps(LLAMA_LAST).encode() + b"\n\ndata: [DONE]\n\n"
    asked = sse_events(EventRewriter("tiny", include_usage=True).feed(stream).decode())
    assert [e["choices"] for e in asked] == [LLAMA_LAST["choices"], []]
    assert "usage" not in asked[0] and asked[1]["usage"] == LLAMA_LAST["usage"] and asked[1]["model"] == "tiny"
    assert all(violations("completion.chunk", e) == [] for e in asked)
    (alone,) = sse_events(EventRewriter("tiny").feed(stream).decode())
    assert "usage" not in alone


def test_llama_cpp_legacy_logprobs_take_the_legacy_form() -> None:
    token = {
        "id": 1,
        "token": " Hi",
        "bytes": [32, 72, 105],
        "logprob": -0.5,
        "top_logprobs": [{"id": 1, "token": " Hi", "logprob": -0.5}, {"id": 2, "token": "!", "logprob": -2.0}],
    }
    body = {
        **LLAMA_LAST,
        "choices": [
            {
                "text": " Hi Hi",
                "index": 0,
                "finish_reason": "length",
                "logprobs": {"content": [token, {**token, "logprob": -0.25}]},
            }
        ],
    }
    logprobs = conform_answer(body, "tiny")["choices"][0]["logprobs"]
    assert logprobs == {
        "tokens": [" Hi", " Hi"],
        "token_logprobs": [-0.5, -0.25],
        "top_logprobs": [{" Hi": -0.5, "!": -2.0}] * 2,
        "text_offset": [0, 3],
    }


def test_nulls_openai_does_not_allow_are_dropped() -> None:
    """vLLM sends optional fields as null where OpenAI's schema wants a value or nothing."""
    body = json.loads(json.dumps(LLAMA_CHAT))
    body["choices"][0]["message"].update(annotations=None, function_call=None, tool_calls=None, audio=None)
    body["usage"].update(prompt_tokens_details=None, completion_tokens_details=None)
    assert violations("chat", body)
    fixed = conform_answer(body, "tiny")
    assert violations("chat", fixed) == []
    assert set(fixed["choices"][0]["message"]) == {"role", "content", "refusal", "audio"}
