"""Function calling on the transformers engine, in the Hermes format (vLLM's ``hermes`` parser):
the model answers a call as ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``.

A chat template that knows ``tools`` gets them as they are; one that does not (SmolLM2's) gets a
Hermes tool block in its system message instead, so every model sees the tools: the rendering is
the core's (:mod:`largeforge.data.tools`), the one training data goes through. A reply that is
only a JSON call (``{"name", "arguments"}`` or a list of them, the form LargeForge's training
data renders ``tool_call`` turns in) is a call as well.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from largeforge.data.tools import OPEN
from largeforge.data.tools import loads_arguments as _loads

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


@dataclass
class ToolCall:
    """One parsed call: the function's name and its arguments as a JSON string (OpenAI's form)."""

    name: str
    arguments: str
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or f"call_{uuid.uuid4().hex[:24]}"


def _call(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _loads(arguments)
    return ToolCall(obj["name"], json.dumps(arguments, ensure_ascii=False))


def parse(text: str) -> tuple[str | None, list[ToolCall]]:
    """Split a finished reply into its content and its tool calls (none: the whole text is content).

    Content before the first ``<tool_call>`` stays content; a block that is not a valid call
    leaves the whole reply as content, as vLLM's parser does.
    """
    if OPEN in text:
        head = text[: text.index(OPEN)].strip()
        calls = []
        for block in _BLOCK.findall(text):
            try:
                call = _call(json.loads(block))
            except ValueError:
                call = None
            if call is None:
                return text, []
            calls.append(call)
        return head or None, calls
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            obj = json.loads(stripped)
        except ValueError:
            return text, []
        items = obj if isinstance(obj, list) else [obj]
        parsed = [_call(item) for item in items]
        if items and all(parsed):
            return None, [c for c in parsed if c is not None]
    return text, []


class StreamParser:
    """Streams a reply's content while holding back whatever may be a tool call.

    ``feed`` returns the content that is safe to send; ``finish`` parses what was held back
    (content and calls). A reply that starts like JSON, or text from ``<tool_call>`` on, is held
    until the reply ends, so a call is never half-sent as content.
    """

    def __init__(self) -> None:
        self.sent = ""
        self.held = ""

    def feed(self, delta: str) -> str:
        self.held += delta
        if not self.sent.strip() and self.held.lstrip()[:1] in ("{", "["):
            return ""  # a JSON-only reply so far
        if not self.sent.strip() and not self.held.strip():
            return ""
        at = self.held.find(OPEN)
        if at >= 0:
            out, self.held = self.held[:at], self.held[at:]
            if not (self.sent + out).strip():
                out = ""  # only whitespace before the call: no content at all
        else:
            keep = _partial_open(self.held)
            out, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        self.sent += out
        return out

    def finish(self) -> tuple[str | None, list[ToolCall]]:
        """The remaining content (None if none) and the tool calls of the whole reply."""
        _, calls = parse(self.sent + self.held)
        if calls:  # what came before the first call has been sent already
            return None, calls
        return self.held or None, []


def _partial_open(text: str) -> int:
    """Length of the longest tail of ``text`` that starts ``<tool_call>``."""
    for size in range(min(len(text), len(OPEN) - 1), 0, -1):
        if OPEN.startswith(text[-size:]):
            return size
    return 0
