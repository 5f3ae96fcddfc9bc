"""An upstream engine's answers restated in OpenAI's shapes, as the gateway relays them.

llama.cpp's and vLLM's servers answer in OpenAI's form with gaps that typed clients trip on:
fields OpenAI always sends even when null (``message.refusal``, ``choices[].logprobs``,
``logprobs.refusal``) missing, fields OpenAI sends only with a value sent as null
(``message.annotations``, ``usage.prompt_tokens_details``), the engine's internal model name in
``model``, and their own error shapes (``code: 400`` as a number, no ``param``, ``type`` names
of their own). The gateway passes every
answer, streamed ones event by event, through :func:`conform_answer` / :func:`conform_error`, so
a client sees the same shapes as from the transformers engine; every other field is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from largeforge_serve.server.errors import ERROR_TYPES

#: Maps an upstream error (its status and ``error`` object) to OpenAI's ``(code, param)`` where
#: the engine reports a known condition its own way (the context length exceeded, …).
ErrorMapper = Callable[[int, dict[str, Any]], tuple[str | None, str | None] | None]


def _legacy_logprobs(logprobs: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp's chat-style ``{"content": [token, …]}`` in a legacy completion, restated in the
    legacy form (``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset``)."""
    tokens = [t for t in logprobs.get("content") or [] if isinstance(t, dict)]
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(str(token.get("token", "")))
    return {
        "tokens": [t.get("token") for t in tokens],
        "token_logprobs": [t.get("logprob") for t in tokens],
        "top_logprobs": [
            {str(x.get("token")): x.get("logprob") for x in t.get("top_logprobs") or [] if isinstance(x, dict)}
            for t in tokens
        ],
        "text_offset": offsets,
    }


#: Fields OpenAI's schema has no null for: sent with a value or not at all (vLLM sends them null).
_NOT_NULL = {
    "message": ("tool_calls", "annotations", "function_call"),
    "delta": ("tool_calls", "function_call", "role"),
    "usage": ("completion_tokens_details", "prompt_tokens_details"),
}


def _drop_nulls(part: Any, kind: str) -> None:
    if isinstance(part, dict):
        for key in _NOT_NULL[kind]:
            if key in part and part[key] is None:
                del part[key]


def _conform_choice(choice: dict[str, Any]) -> None:
    message = choice.get("message")
    if isinstance(message, dict):  # a chat completion
        message.setdefault("content", None)
        message.setdefault("refusal", None)
        _drop_nulls(message, "message")
        choice.setdefault("logprobs", None)
    elif "delta" in choice:  # a chat chunk
        _drop_nulls(choice["delta"], "delta")
        choice.setdefault("finish_reason", None)
    else:  # a legacy completion or its chunk
        choice.setdefault("logprobs", None)
        choice.setdefault("finish_reason", None)
        if isinstance(choice["logprobs"], dict) and "content" in choice["logprobs"]:
            choice["logprobs"] = _legacy_logprobs(choice["logprobs"])
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict) and ("message" in choice or "delta" in choice):
        logprobs.setdefault("content", None)
        logprobs.setdefault("refusal", None)


def conform_answer(body: Any, model: str) -> Any:
    """A completion, chunk or error body with OpenAI's required fields present and ``model`` the
    name the client used; anything that is not such a body is returned as it is."""
    if not isinstance(body, dict):
        return body
    if "error" in body or body.get("object") == "error":
        error = body.get("error", body)
        status = error.get("code") if isinstance(error, dict) else None
        return error_body(status if isinstance(status, int) and 400 <= status < 600 else 500, body)
    choices = body.get("choices")
    if not isinstance(choices, list):
        return body
    body["model"] = model
    _drop_nulls(body.get("usage"), "usage")
    for choice in choices:
        if isinstance(choice, dict):
            _conform_choice(choice)
    return body


def error_body(status: int, body: Any, mapper: ErrorMapper | None = None) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` for an upstream error answer: its
    message kept, ``type`` LargeForge's for ``status``, ``code`` a string or null, ``param``
    present."""
    error: Any = body.get("error", body) if isinstance(body, dict) else None  # vLLM once sent it flat
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else msgspec.json.encode(body).decode()
        error = {"message": text[:2000]}
    code, param = error.get("code"), error.get("param")
    mapped = mapper(status, error) if mapper is not None else None
    if mapped is not None:
        code, param = mapped
    return {
        "error": {
            "message": str(error.get("message") or f"the engine answered HTTP {status}"),
            "type": ERROR_TYPES.get(status, "server_error") if status >= 400 else "server_error",
            "param": param if isinstance(param, str) else None,
            "code": code if isinstance(code, str) else None,
        }
    }


def conform_error(status: int, content: bytes, mapper: ErrorMapper | None = None) -> bytes:
    """:func:`error_body` of an upstream error's raw body (JSON or not), encoded."""
    try:
        body: Any = msgspec.json.decode(content)
    except msgspec.DecodeError:
        body = content.decode("utf-8", "replace")
    return msgspec.json.encode(error_body(status, body, mapper))


class EventRewriter:
    """Cuts an upstream SSE byte stream into events and restates each ``data:`` payload with
    :func:`conform_answer` (``data: [DONE]`` and comments pass as they are).

    Two engine habits are restated as OpenAI streams: usage riding on a chunk that still has
    choices (llama.cpp's last legacy-completion chunk) moves to a chunk of its own with empty
    ``choices`` when ``include_usage`` asked for it, and is dropped when not; a failure sent as
    an ``error:`` line (llama.cpp) becomes a ``data:`` error event."""

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self.buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete events ``chunk`` finishes, rewritten (incomplete ones wait)."""
        self.buffer = (self.buffer + chunk).replace(b"\r\n", b"\n")
        events, sep, self.buffer = self.buffer.rpartition(b"\n\n")
        if not sep:  # no event complete yet: all of it waits (rpartition left it in the buffer)
            return b""
        return b"".join(self._event(event) for event in events.split(b"\n\n") if event)

    def flush(self) -> bytes:
        """What is left when the upstream stream ends."""
        rest, self.buffer = self.buffer, b""
        return self._event(rest) if rest.strip() else b""

    def _event(self, event: bytes) -> bytes:
        """One upstream event as one or more events (a payload whose usage moves out becomes two)."""
        other, out = [], []
        for line in event.split(b"\n"):
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field not in (b"data", b"error"):
                other.append(line)  # a comment or another field
                continue
            try:
                payload = msgspec.json.decode(value)
            except msgspec.DecodeError:  # data: [DONE]
                out.append(line + b"\n\n")
                continue
            if field == b"error":
                payload = {"error": payload}
            out += [
                b"data: " + msgspec.json.encode(part) + b"\n\n"
                for part in self._split_usage(conform_answer(payload, self.model))
            ]
        return (b"\n".join(other) + b"\n\n" if other else b"") + b"".join(out)

    def _split_usage(self, payload: Any) -> list[Any]:
        if not (isinstance(payload, dict) and payload.get("usage") and payload.get("choices")):
            return [payload]
        usage = payload.pop("usage")
        if not self.include_usage:
            return [payload]
        alone = {k: v for k, v in payload.items() if k != "timings"}
        return [payload, {**alone, "choices": [], "usage": usage}]
