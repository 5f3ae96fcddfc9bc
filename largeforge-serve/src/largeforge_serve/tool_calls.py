"""Function calling on the transformers engine, in the Hermes format (vLLM's ``hermes`` parser):
the model answers a call as ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``.

A chat template that knows ``tools`` gets them as they are; one that does not (SmolLM2's) gets a
Hermes tool block in its system message instead, so every model sees the tools. A reply that is
only a JSON call (``{"name", "arguments"}`` or a list of them, the form LargeForge's training
data renders ``tool_call`` turns in) is a call as well.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

_SYSTEM = (
    "You are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags. You may call one or more functions to assist with the user query. "
    "Don't make assumptions about what values to plug into functions. Here are the available tools: "
    "<tools>\n{tools}\n</tools>\nFor each function call return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n</tool_call>'
)


@dataclass
class ToolCall:
    """One parsed call: the function's name and its arguments as a JSON string (OpenAI's form)."""

    name: str
    arguments: str
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or f"call_{uuid.uuid4().hex[:24]}"


def system_block(tools: Sequence[dict[str, Any]]) -> str:
    """The Hermes system text that describes ``tools`` to a model whose template cannot."""
    return _SYSTEM.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools))


def template_messages(
    messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] | None, template_knows_tools: bool
) -> list[dict[str, Any]]:
    """``messages`` as the chat template should see them: for a template that does not know tools,
    the tool block joins the system message and an assistant's ``tool_calls`` become its Hermes text;
    for one that does, each call's ``arguments`` is a dict (as Hugging Face templates expect)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        calls = m.get("tool_calls") or []
        m = {k: v for k, v in m.items() if k not in ("tool_calls", "tool_call_id")} | (
            {"tool_call_id": m["tool_call_id"]} if template_knows_tools and m.get("tool_call_id") else {}
        )
        if calls and template_knows_tools:
            m["tool_calls"] = [
                {
                    "type": "function",
                    "id": c.get("id"),
                    "function": {"name": c["function"]["name"], "arguments": _loads(c["function"]["arguments"])},
                }
                for c in calls
            ]
        elif calls:
            text = "\n".join(
                f"{OPEN}\n"
                + json.dumps(
                    {"name": c["function"]["name"], "arguments": _loads(c["function"]["arguments"])}, ensure_ascii=False
                )
                + f"\n{CLOSE}"
                for c in calls
            )
            m["content"] = f"{m['content']}\n{text}" if m.get("content") else text
        out.append(m)
    if tools and not template_knows_tools:
        block = system_block(tools)
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def _loads(arguments: Any) -> Any:
    """Call arguments as an object; a string that is not JSON stays a string."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


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
