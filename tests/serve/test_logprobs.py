"""Issue 15, defect 7: ``logprobs`` / ``top_logprobs`` (chat) and ``logprobs`` (completions), and a
``max_tokens`` beyond the context refused naming the parameter, with the real ``openai`` client."""

from __future__ import annotations

import math
from typing import Any

import httpx
import openai
import pytest

MESSAGES: Any = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def client(tiny_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.url, api_key="unused", max_retries=0)


def test_chat_logprobs(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=5, temperature=0, logprobs=True, top_logprobs=3
    )
    assert reply.usage is not None
    content = reply.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    for token in content:
        assert len(token.top_logprobs) == 3 and token.logprob <= 0
        assert token.top_logprobs[0].token == token.token  # greedy: the most likely token is the one chosen
        assert math.isclose(token.top_logprobs[0].logprob, token.logprob)
        assert bytes(token.bytes or []) == token.token.encode()
    assert client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2).choices[0].logprobs is None


def test_chat_logprobs_streamed(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="tiny", messages=MESSAGES, max_tokens=5, temperature=0, logprobs=True, stream=True
        )
    )
    tokens = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content or []]
    assert len(tokens) == 5 and all(t.top_logprobs == [] for t in tokens)
    assert "".join(t.token for t in tokens) == "".join(c.choices[0].delta.content or "" for c in chunks)


def test_completion_logprobs(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=4, temperature=0, logprobs=2)
    lp = reply.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset is not None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert "".join(lp.tokens) == reply.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(4)]
    for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert len(top) == 2 and math.isclose(top[token], value)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"max_tokens": 4000}, "max_tokens"),  # the tiny model's context is 2048
        ({"max_completion_tokens": 2047}, "max_completion_tokens"),
    ],
)
def test_refused_naming_the_parameter(tiny_server: Any, body: dict[str, Any], param: str) -> None:
    response = httpx.post(
        f"{tiny_server.url}/chat/completions", timeout=60, json={"model": "tiny", "messages": MESSAGES, **body}
    )
    assert response.status_code == 400, response.text
    assert param in (response.json()["error"]["param"] or response.json()["error"]["message"])


def test_completion_max_tokens_beyond_context(tiny_server: Any) -> None:
    response = httpx.post(
        f"{tiny_server.url}/completions", timeout=60, json={"model": "tiny", "prompt": "hi", "max_tokens": 2048}
    )
    assert response.status_code == 400
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (
        "max_tokens",
        "context_length_exceeded",
    )
