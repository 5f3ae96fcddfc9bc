"""Issue 15, defect 7 (part): an OpenAI parameter the transformers engine does not implement is
a 400 naming it, never silently ignored; its neutral value is accepted. (``tools`` and
``logprobs`` are implemented: test_tool_calls.py, test_logprobs.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

CHAT = {"model": "tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "tiny", "max_tokens": 2, "prompt": "hi"}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/chat/completions", {**CHAT, "response_format": {"type": "json_object"}}, "response_format"),
        ("/chat/completions", {**CHAT, "tools": [TOOL], "tool_choice": "required"}, "tool_choice"),
        (
            "/chat/completions",
            {**CHAT, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}},
            "tool_choice",
        ),
        ("/chat/completions", {**CHAT, "presence_penalty": 0.5}, "presence_penalty"),
        ("/chat/completions", {**CHAT, "frequency_penalty": -1}, "frequency_penalty"),
        ("/chat/completions", {**CHAT, "logit_bias": {"50256": -100}}, "logit_bias"),
        ("/completions", {**COMPLETION, "echo": True}, "echo"),
        ("/completions", {**COMPLETION, "suffix": "end"}, "suffix"),
    ],
)
def test_unsupported_parameter_is_400_naming_it(tiny_server: Any, path: str, body: dict[str, Any], param: str) -> None:
    response = httpx.post(f"{tiny_server.url}{path}", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "unsupported_parameter")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/chat/completions",
            {
                **CHAT,
                "logprobs": False,
                "presence_penalty": 0,
                "frequency_penalty": 0.0,
                "logit_bias": {},
                "response_format": {"type": "text"},
                "tools": [],
                "tool_choice": "none",
            },
        ),
        ("/completions", {**COMPLETION, "echo": False, "suffix": "", "logit_bias": None}),
    ],
)
def test_neutral_values_are_accepted(tiny_server: Any, path: str, body: dict[str, Any]) -> None:
    assert httpx.post(f"{tiny_server.url}{path}", json=body, timeout=60).status_code == 200
