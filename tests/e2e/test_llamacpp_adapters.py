"""The ``llamacpp`` backend for real: llama.cpp's llama-server behind LargeForge's gateway.

The tiny model is exported with LargeForge's own GGUF path (llama.cpp's converter), its two
random LoRA adapters with llama.cpp's LoRA converter, and the official openai client talks to
the gateway. Each adapter must answer as PEFT + transformers answer with that adapter.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from largeforge.errors import ConfigError
from largeforge_serve.engines.llamacpp import LlamaCppEngine, llamacpp_available
from tests.serve.serve_testing import GREEDY, PROMPT, make_adapter, reference, running_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not llamacpp_available() or os.environ.get("LARGEFORGE_SKIP_LLAMACPP") == "1",
        reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)",
    ),
]


@pytest.fixture(scope="module")
def gguf_team(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model as an f32 GGUF and two random adapters as f32 GGUF adapters."""
    from largeforge_quant.gguf import convert_adapter, convert_model

    root = tmp_path_factory.mktemp("gguf-team")
    team = {"base": convert_model(tiny_model_dir, root / "tiny-f32.gguf", "f32")}
    for seed, name in enumerate(("alpha", "beta"), start=1):
        peft_dir = make_adapter(tiny_model_dir, root / f"{name}-peft", seed)
        team[name] = convert_adapter(peft_dir, root / f"{name}.gguf", base=tiny_model_dir, outtype="f32")
        team[f"{name}-peft"] = peft_dir
    return team


@pytest.fixture(scope="module")
def llama_server(gguf_team: dict[str, Path]) -> Iterator[Any]:
    from largeforge.config import InferenceConfig

    engine = LlamaCppEngine(
        str(gguf_team["base"]),
        InferenceConfig(max_model_len=512),
        adapters={"alpha": str(gguf_team["alpha"]), "beta": str(gguf_team["beta"])},
        max_batch_size=4,
        max_queue=8,
        threads=1,
    )
    engine.load()
    try:
        with running_server(engine, model_name="tiny", api_keys=("k",)) as server:
            yield server
    finally:
        engine.unload()
    assert engine.proc is None


@pytest.fixture()
def client(llama_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=llama_server.url, api_key="k", max_retries=0)


def _complete(client: openai.OpenAI, model: str) -> str:
    out = client.completions.create(model=model, prompt=PROMPT, max_tokens=GREEDY.max_tokens, temperature=0)
    return out.choices[0].text


def test_each_adapter_answers_as_peft_does_even_when_batched(
    client: openai.OpenAI, tiny_model_dir: Path, gguf_team: dict[str, Path]
) -> None:
    expected = {
        "tiny": reference(tiny_model_dir, None),
        "alpha": reference(tiny_model_dir, gguf_team["alpha-peft"]),
        "beta": reference(tiny_model_dir, gguf_team["beta-peft"]),
    }
    assert len(set(expected.values())) == 3  # the adapters really change the answer
    alone = {model: _complete(client, model) for model in expected}
    assert alone == expected
    together: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda m=m: together.__setitem__(m, _complete(client, m)))
        for m in [*expected, *expected]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == expected


def test_models_lists_the_adapters(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list().data] == ["tiny", "alpha", "beta"]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gamma", prompt="x", max_tokens=1)


def test_sampling_parameters_reach_llama_cpp(client: openai.OpenAI) -> None:
    short = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3, temperature=0)
    assert short.usage is not None and short.usage.completion_tokens == 3
    assert short.choices[0].finish_reason == "length"
    seeded = [
        client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=1.0, seed=7).choices[0].text
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
    full = _complete(client, "tiny")
    stop_at = full.strip().split()[1] if len(full.split()) > 1 else full[-2:]
    stopped = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=8, temperature=0, stop=[stop_at])
    assert stop_at not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop"


def test_chat_streams_with_logprobs_and_schema(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Is the sky blue?"}]
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="alpha", messages=messages, max_tokens=6, temperature=0, stream=True
        )
        if chunk.choices
    ]
    assert len(pieces) >= 2 and "".join(pieces)
    scored = client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=3, temperature=0, logprobs=True, top_logprobs=2
    )
    content = scored.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and len(content[0].top_logprobs) == 2 and content[0].logprob <= 0
    # The random tiny model would never say "zebra"; llama.cpp's grammar for the schema makes it.
    schema = {"type": "string", "enum": ["zebra"]}
    constrained = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=12,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "animal", "schema": schema}},
    )
    assert json.loads(constrained.choices[0].message.content or "") == "zebra"


def test_tools_reach_llama_cpp(client: openai.OpenAI) -> None:
    """The random tiny model calls no tool, so the check is that llama.cpp reads ``tools``: a valid
    list is accepted, a malformed one is refused as the client's error (llama-server says 500)."""
    tool: Any = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    ok = client.chat.completions.create(model="tiny", messages=messages, tools=[tool], max_tokens=4)
    assert ok.choices[0].finish_reason in ("length", "stop", "tool_calls")
    with pytest.raises(openai.BadRequestError, match="tool"):
        client.chat.completions.create(
            model="tiny",
            messages=messages,
            tools=[{"type": "function"}],  # type: ignore[list-item]
            max_tokens=4,
        )


def test_context_limit_is_a_400(client: openai.OpenAI) -> None:
    """With the code and param the transformers engine gives it (llama.cpp says it its own way)."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny", prompt="word " * 2000, max_tokens=4)
    assert (caught.value.code, caught.value.param) == ("context_length_exceeded", "prompt")


def test_metrics_carry_llama_cpp_own(llama_server: Any, client: openai.OpenAI) -> None:
    _complete(client, "tiny")
    text = httpx.get(llama_server.url.removesuffix("/v1") + "/metrics").text
    assert "largeforge_requests_total" in text and "llamacpp:tokens_predicted_total" in text


def test_bad_inputs_fail_in_one_line_before_starting(
    tmp_path: Path, gguf_team: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ConfigError, match=r"is not a GGUF file.*quant gguf"):
        LlamaCppEngine(str(not_gguf)).check()
    with pytest.raises(ConfigError, match=r"--adapter alpha: .* is a GGUF model, not a LoRA adapter"):
        LlamaCppEngine(str(gguf_team["base"]), adapters={"alpha": str(gguf_team["base"])}).check()
    from largeforge.models.embedded import SMOLLM2

    gguf_dir = SMOLLM2.gguf_dir()
    assert gguf_dir is not None
    other_base = gguf_dir / SMOLLM2.gguf_file  # SmolLM2 (576 wide), not the tiny model (64)
    with pytest.raises(ConfigError, match=r"--adapter alpha: .*made for another base model"):
        LlamaCppEngine(str(other_base), adapters={"alpha": str(gguf_team["alpha"])}).check()
    monkeypatch.setenv("LARGEFORGE_LLAMA_CPP_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LARGEFORGE_LLAMA_SERVER", raising=False)
    from largeforge.config import InferenceConfig
    from largeforge_serve.engines import select_backend_name

    with pytest.raises(ConfigError, match=r"scripts/install_llamacpp\.sh"):
        select_backend_name(InferenceConfig(model_path=str(gguf_team["base"]), backend="llamacpp"))
