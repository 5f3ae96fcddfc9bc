"""OpenAI parameters the transformers engine does not implement: a request that sets one to
anything but its neutral value gets a 400 naming it, instead of an answer that silently ignores
it (``n`` above 1, penalties, logit_bias, response_format, a forced ``tool_choice``, echo, suffix);
``tools`` and ``logprobs`` are implemented (server/app.py, tool_calls.py). The gateways forward
these to engines that implement them."""

from __future__ import annotations

from typing import Any

from largeforge import openai_contract as s
from largeforge_serve.server.errors import APIError


def _set(req: Any) -> list[str]:
    """The unsupported parameters ``req`` sets to a value that would change the answer."""
    names = []
    if req.n != 1:
        names.append("n")
    if req.presence_penalty not in (None, 0):
        names.append("presence_penalty")
    if req.frequency_penalty not in (None, 0):
        names.append("frequency_penalty")
    if req.logit_bias:
        names.append("logit_bias")
    if isinstance(req, s.ChatCompletionRequest):
        if req.response_format is not None and req.response_format.type != "text":
            names.append("response_format")
        if req.tool_choice not in (None, "none", "auto"):  # "required" / a named function: not forced
            names.append("tool_choice")
    else:
        if req.echo:
            names.append("echo")
        if req.suffix:
            names.append("suffix")
    return names


def refuse_unsupported(req: s.ChatCompletionRequest | s.CompletionRequest) -> None:
    """Raise a 400 for the first unsupported parameter ``req`` sets (``code``:
    ``unsupported_parameter``)."""
    names = _set(req)
    if names:
        raise APIError(
            400,
            f"'{names[0]}' is not supported by this server (transformers engine); leave it unset",
            param=names[0],
            code="unsupported_parameter",
        )
