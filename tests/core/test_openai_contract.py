"""The OpenAI request contract every LargeForge door applies (``largeforge.openai_contract``):
what it refuses, the field each refusal names, and that it stays light to import."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from largeforge.openai_contract import ChatCompletionRequest, CompletionRequest, RequestError, TextPart, parse_request

USER = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> bytes:
    return json.dumps({"messages": USER, **fields}).encode()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat(temperature=9), "temperature"),
        (chat(top_p=0), "top_p"),
        (chat(max_tokens=1_000_000), "max_tokens"),
        (chat(max_completion_tokens=0), "max_completion_tokens"),
        (chat(n=0), "n"),
        (chat(presence_penalty=3), "presence_penalty"),
        (chat(top_logprobs=2), "top_logprobs"),  # needs logprobs: true
        (chat(logprobs=True, top_logprobs=21), "top_logprobs"),
        (chat(tool_choice="sometimes"), "tool_choice"),
        (chat(messages=[]), "messages"),
        (chat(messages=[{"role": "wizard"}]), "messages[0].role"),
        (chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages[0].content[0].text"),
        (chat(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages[0].content[0].type"),
        (b'{"model": "m"}', "messages"),
        (b"[1]", None),
        (b"{not json", None),
        (b"[" * 100_000, None),
    ],
)
def test_refusals_name_the_field(body: bytes, param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(body, ChatCompletionRequest)
    assert caught.value.param == param
    assert caught.value.message


def test_what_it_takes() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    request = parse_request(
        chat(
            messages=[{"role": "user", "content": [{"type": "text", "text": "look"}, image]}],
            max_tokens=5.0,  # an integral float is an integer (JSON Schema's reading)
            n=3,  # what an engine implements is its own business: the transformers server refuses it
            logprobs=True,
            top_logprobs=0,
            unknown_extension={"kept": True},
        ),
        ChatCompletionRequest,
    )
    assert request.max_tokens == 5 and request.n == 3
    content = request.messages[0].content
    assert isinstance(content, list) and isinstance(content[0], TextPart) and content[0].text == "look"
    completion = parse_request(b'{"prompt": ["a", "b"], "logprobs": 2}', CompletionRequest)
    assert completion.prompt == ["a", "b"]
    with pytest.raises(RequestError) as caught:
        parse_request(b'{"prompt": ""}', CompletionRequest)
    assert caught.value.param == "prompt"


def test_importing_the_contract_stays_light() -> None:
    code = (
        "import sys, largeforge.openai_contract; "
        "print(sorted(m for m in ('torch', 'litestar', 'transformers', 'largeforge_serve') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
