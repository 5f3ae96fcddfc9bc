"""Tool definitions and tool calls in chat text, rendered one way for training and serving.

A chat template that knows ``tools`` gets them as they are; one that does not (SmolLM2's) gets a
Hermes tool block in its system message instead, and each tool call is written as
``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` in the assistant's text (vLLM's
``hermes`` format). Training data and served prompts go through these same functions, so a model
is trained on the prompt it is served with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"

_SYSTEM = (
    "You are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags. You may call one or more functions to assist with the user query. "
    "Don't make assumptions about what values to plug into functions. Here are the available tools: "
    "<tools>\n{tools}\n</tools>\nFor each function call return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n</tool_call>'
)


def template_knows_tools(template: Any) -> bool:
    """Whether a chat template (its Jinja text) renders ``tools`` itself."""
    return isinstance(template, str) and "tools" in template


def system_block(tools: Sequence[dict[str, Any]]) -> str:
    """The Hermes system text that describes ``tools`` to a model whose template cannot."""
    return _SYSTEM.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools))


def loads_arguments(arguments: Any) -> Any:
    """Call arguments as an object; a string that is not JSON stays a string."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def parse_tools(text: str | None) -> list[dict[str, Any]] | None:
    """Tool definitions from their JSON text (a list, or one definition); ``None`` when there are
    none or the text is not JSON."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    value = [value] if isinstance(value, dict) else value
    if not isinstance(value, list):
        return None
    return [t for t in value if isinstance(t, dict)] or None


def calls_of(content: str) -> list[dict[str, Any]] | None:
    """The calls of a ``tool_call`` turn's JSON (``{"name", "arguments"}``, a list of them, or
    OpenAI ``tool_calls`` items) in OpenAI's form; ``None`` when it holds no call."""
    try:
        value = json.loads(content)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return None
        function: dict[str, Any] = item["function"] if isinstance(item.get("function"), dict) else item
        name = function.get("name")
        if not isinstance(name, str) or not name:
            return None
        arguments = function.get("arguments", function.get("parameters", {}))
        call: dict[str, Any] = {
            "type": "function",
            "function": {
                "name": name,
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False),
            },
        }
        if item.get("id"):
            call["id"] = item["id"]
        calls.append(call)
    return calls or None


def call_text(calls: Sequence[dict[str, Any]]) -> str:
    """OpenAI ``tool_calls`` as the Hermes text a model without template support writes."""
    return "\n".join(
        f"{OPEN}\n"
        + json.dumps(
            {"name": c["function"]["name"], "arguments": loads_arguments(c["function"]["arguments"])},
            ensure_ascii=False,
        )
        + f"\n{CLOSE}"
        for c in calls
    )


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
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": loads_arguments(c["function"]["arguments"]),
                    },
                }
                for c in calls
            ]
        elif calls:
            text = call_text(calls)
            m["content"] = f"{m['content']}\n{text}" if m.get("content") else text
        out.append(m)
    if tools and not template_knows_tools:
        block = system_block(tools)
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out
