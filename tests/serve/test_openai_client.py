"""The official ``openai`` package, unchanged, against a real server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def client(tiny_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.url, api_key="unused", max_retries=0)


def test_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=6, temperature=0)
    assert reply.object == "chat.completion"
    assert reply.model == "tiny"
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 6
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streamed_chat_matches_non_streamed_and_reports_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=MESSAGES,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])


def test_text_completion_streamed_and_not(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=5, temperature=0)
    assert whole.object == "text_completion"
    assert whole.usage is not None and whole.usage.completion_tokens == 5
    assert whole.choices[0].finish_reason == "length"
    pieces = client.completions.create(
        model="tiny", prompt="Once upon a time", max_tokens=5, temperature=0, stream=True
    )
    assert "".join(p.choices[0].text for p in pieces if p.choices) == whole.choices[0].text


def test_several_prompts_give_one_choice_each(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="tiny", prompt=["a b c", "one two"], max_tokens=3, temperature=0)
    assert [c.index for c in reply.choices] == [0, 1]
    single = client.completions.create(model="tiny", prompt="one two", max_tokens=3, temperature=0)
    assert reply.choices[1].text == single.choices[0].text


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing")


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert info.value.body["param"] == "model"  # type: ignore[index]


@pytest.mark.parametrize("bad", [{"temperature": 3.5}, {"max_tokens": 0}, {"top_p": 0}, {"n": 2}])
def test_out_of_range_parameters_are_bad_requests(client: openai.OpenAI, bad: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="tiny", messages=MESSAGES, **bad)
    assert info.value.body["param"] == next(iter(bad))  # type: ignore[index]


def test_empty_messages_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[])


def test_api_key_required_when_configured(tiny_engine: Any, server_factory: Any) -> None:
    with server_factory(tiny_engine, api_keys=("s3cret",)) as server:
        anonymous = openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            anonymous.models.list()
        assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
        with pytest.raises(openai.AuthenticationError):
            anonymous.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2)
        allowed = openai.OpenAI(base_url=server.url, api_key="s3cret", max_retries=0)
        assert [m.id for m in allowed.models.list()] == ["tiny"]
        reply = allowed.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2)
        assert reply.choices[0].message.content is not None
