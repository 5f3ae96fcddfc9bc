"""OpenAI requests into the engine's terms and its results back into OpenAI's shapes: sampling
parameters, chat messages, logprobs and the assistant message of a finished reply."""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge import openai_contract as s
from largeforge.config import GenerationConfig
from largeforge_serve import tool_calls
from largeforge_serve.engines.base import SamplingParams, TokenLogprobs
from largeforge_serve.server.errors import APIError

_DEFAULTS = GenerationConfig()


def sampling_params(req: s.SamplingFields, max_tokens: int | None, logprobs: int | None = None) -> SamplingParams:
    """The engine's sampling parameters for a request (LargeForge's defaults where it is silent)."""
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    top_k = _DEFAULTS.top_k if req.top_k is None else max(req.top_k, 0)
    return SamplingParams(
        max_tokens=max_tokens or _DEFAULTS.max_tokens,
        temperature=_DEFAULTS.temperature if req.temperature is None else req.temperature,
        top_p=_DEFAULTS.top_p if req.top_p is None else req.top_p,
        top_k=top_k,
        repetition_penalty=req.repetition_penalty or _DEFAULTS.repetition_penalty,
        stop=tuple(x for x in stop if x),
        seed=req.seed,
        logprobs=logprobs,
        strict_max_tokens=max_tokens is not None,
    )


def chat_messages(req: s.ChatCompletionRequest) -> list[dict[str, Any]]:
    """The request's messages as the chat template takes them (text parts joined; others refused)."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        if isinstance(m.content, list):
            texts = [p.text for p in m.content if isinstance(p, s.TextPart)]
            if len(texts) < len(m.content):
                raise APIError(
                    400,
                    "only text content parts are supported",
                    param=f"messages[{i}].content",
                    code="unsupported_parameter",
                )
            content = "".join(texts)
        else:
            content = m.content or ""
        message: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": content}
        if m.tool_calls:
            message["tool_calls"] = [msgspec.to_builtins(c) for c in m.tool_calls]
        if m.tool_call_id:
            message["tool_call_id"] = m.tool_call_id
        out.append(message)
    return out


def chat_logprobs(tokens: list[TokenLogprobs]) -> s.ChatLogprobs:
    """Token logprobs in the chat completion's shape."""
    return s.ChatLogprobs(
        [
            s.TokenLogprob(
                t.token, t.logprob, list(t.token.encode()), [s.TopLogprob(x, lp, list(x.encode())) for x, lp in t.top]
            )
            for t in tokens
        ]
    )


def completion_logprobs(tokens: list[TokenLogprobs]) -> s.CompletionLogprobs:
    """Token logprobs in the legacy completion's shape (with text offsets)."""
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t.token)
    return s.CompletionLogprobs(
        [t.token for t in tokens], [t.logprob for t in tokens], [dict(t.top) for t in tokens], offsets
    )


def chat_message(text: str, parse_tools: bool) -> tuple[s.AssistantMessage, bool]:
    """The assistant message for a finished reply, and whether it called tools."""
    content, calls = tool_calls.parse(text) if parse_tools else (text, [])
    if not calls:
        return s.AssistantMessage(text), False
    return s.AssistantMessage(
        content,
        tool_calls=[s.ToolCall(id=c.id, function=s.FunctionCall(name=c.name, arguments=c.arguments)) for c in calls],
    ), True
