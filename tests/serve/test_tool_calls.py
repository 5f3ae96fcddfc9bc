"""Issue 15, defect 7: ``tools`` → ``tool_calls`` on the transformers engine (Hermes format, as
vLLM's ``hermes`` parser), with the real ``openai`` client against real servers on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from largeforge_serve import tool_calls
from tests.serve.serve_testing import running_server

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# One earlier call in the history (an assistant turn with tool_calls, then the tool's answer), so
# even the 135M model answers the next question with a call.
HISTORY: list[Any] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
    {"role": "assistant", "content": "It is 18 C and sunny in Paris."},
    {"role": "user", "content": "What is the weather in London?"},
]


# -- the parser (no model) -----------------------------------------------------------------------


def test_parse_hermes_blocks_json_replies_and_plain_text() -> None:
    content, calls = tool_calls.parse(
        'Let me check.\n<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>'
        '<tool_call>{"name": "g", "arguments": "{}"}</tool_call>'
    )
    assert content == "Let me check."
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("f", {"x": 1}), ("g", {})]
    assert calls[0].id != calls[1].id and calls[0].id.startswith("call_")
    assert tool_calls.parse('[{"name": "f", "arguments": {"x": 2}}]')[1][0].arguments == '{"x": 2}'
    assert tool_calls.parse("<tool_call>{not json}</tool_call>") == ("<tool_call>{not json}</tool_call>", [])
    assert tool_calls.parse('{"a": 1}') == ('{"a": 1}', [])
    assert tool_calls.parse("Paris.") == ("Paris.", [])


def test_stream_parser_never_sends_part_of_a_call_as_content() -> None:
    parser = tool_calls.StreamParser()
    text = 'Sure. <tool_call>{"name": "f", "arguments": {}}</tool_call>'
    sent = "".join(parser.feed(text[i : i + 3]) for i in range(0, len(text), 3))
    assert sent == "Sure. "
    rest, calls = parser.finish()
    assert rest is None and [c.name for c in calls] == ["f"]
    parser = tool_calls.StreamParser()
    assert parser.feed("\n") + parser.feed(' <tool_call>{"name": "f", "arguments": {}}') == ""
    assert parser.finish()[0] is None  # whitespace before a call is not content
    parser = tool_calls.StreamParser()
    assert parser.feed("Hello <tool") == "Hello "
    assert parser.feed("kit") == "<toolkit"
    assert parser.finish() == (None, [])


def test_a_template_that_knows_tools_gets_them(tiny_engine: Any) -> None:
    tokenizer = tiny_engine.tokenizer
    saved = tokenizer.chat_template
    tokenizer.chat_template = (
        "{% for t in tools %}TOOL {{ t.function.name }};{% endfor %}{% for m in messages %}{{ m.role }}:"
        "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }} {{ c.function.arguments.city }};{% endfor %}"
        "{{ m.content }}|{% endfor %}"
    )
    try:
        prompt = tiny_engine.render_chat(
            [{"role": "assistant", "content": "", "tool_calls": HISTORY[1]["tool_calls"]}], [WEATHER]
        )
    finally:
        tokenizer.chat_template = saved
    assert prompt == "TOOL get_weather;assistant:CALL get_weather Paris;|"


def test_a_template_without_tools_gets_the_hermes_block(tiny_engine: Any) -> None:
    prompt = tiny_engine.render_chat([dict(m) for m in HISTORY], [WEATHER])
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<|im_start|>tool\n18 C, sunny" in prompt


# -- SmolLM2 behind a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol(smollm2_dir: Any) -> Iterator[openai.OpenAI]:
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(smollm2_dir), max_batch_size=2, max_queue=8, threads=1)
    engine.load()
    try:
        with running_server(engine, model_name="smol") as server:
            yield openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    finally:
        engine.unload()


def _city(arguments: str) -> Any:
    return json.loads(arguments).get("city")


def test_tool_call_answer(smol: openai.OpenAI) -> None:
    reply = smol.chat.completions.create(
        model="smol",
        messages=HISTORY,
        tools=[WEATHER],  # type: ignore[arg-type]
        max_tokens=40,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1 and calls[0].type == "function"
    assert calls[0].id.startswith("call_") and calls[0].function.name
    assert _city(calls[0].function.arguments) == "London"


def test_tool_call_streamed_as_deltas(smol: openai.OpenAI) -> None:
    chunks = list(
        smol.chat.completions.create(
            model="smol",
            messages=HISTORY,
            tools=[WEATHER],  # type: ignore[arg-type]
            max_tokens=40,
            temperature=0,
            stream=True,
        )
    )
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert not "".join(c.choices[0].delta.content or "" for c in chunks)  # no part of the call leaks as text
    assert deltas[0].id and deltas[0].type == "function" and deltas[0].function and deltas[0].function.name
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert {d.index for d in deltas} == {0} and _city(arguments) == "London"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]


def test_tool_choice_none_answers_in_text(smol: openai.OpenAI) -> None:
    reply = smol.chat.completions.create(
        model="smol",
        messages=HISTORY,
        tools=[WEATHER],  # type: ignore[arg-type]
        tool_choice="none",
        max_tokens=40,
        temperature=0,
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert not reply.choices[0].message.tool_calls
    assert "London" in (reply.choices[0].message.content or "")
