"""vLLM for real: ``largeforge serve inference --backend vllm`` (vLLM's own OpenAI server behind
LargeForge's gateway) on the embedded SmolLM2, driven with the official ``openai`` client.

One server for the session (``tests/vllm/conftest.py``): two LoRA adapters, an API key, 2
requests decoding + 2 waiting. Its teardown checks that no vLLM process is left behind.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.serve.serve_testing import PROMPT, reference
from tests.vllm.vllm_testing import API_KEY, CAPACITY, MAX_MODEL_LEN, MODEL, VLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(vllm_server: VLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm_server.url, api_key=API_KEY, max_retries=0, timeout=300)


def root(server: VLLMServer) -> str:
    return server.url.removesuffix("/v1")


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the Prometheus samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def test_models_are_the_base_and_the_adapters(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL, "alpha", "beta"]


def test_chat_answers_under_the_served_name(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=12, temperature=0)
    assert reply.model == MODEL
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streamed_chat_matches_non_streamed_with_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=12, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=FRANCE,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_completion_max_tokens_and_stop(client: openai.OpenAI) -> None:
    capped = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0)
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    assert capped.choices[0].finish_reason == "length"
    text = capped.choices[0].text
    stop = text.strip()[-2:]
    stopped = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == text[: text.index(stop)]  # the stop sequence is not returned
    pieces = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0, stream=True)
    assert "".join(p.choices[0].text for p in pieces if p.choices) == text


def test_seed_makes_sampling_reproducible(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        reply = client.completions.create(
            model=MODEL, prompt="Once upon a time", max_tokens=16, temperature=1.0, seed=seed
        )
        return reply.choices[0].text

    first = sample(7)
    assert sample(7) == first
    assert {sample(8), sample(9)} != {first}


def test_n_logprobs_and_response_format_reach_the_client(client: openai.OpenAI) -> None:
    many = client.chat.completions.create(
        model=MODEL, messages=FRANCE, max_tokens=6, temperature=1.0, seed=1, n=3, logprobs=True, top_logprobs=2
    )
    assert [c.index for c in many.choices] == [0, 1, 2]
    content = many.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and len(content[0].top_logprobs) == 2 and content[0].logprob <= 0
    text = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=3, temperature=0, logprobs=2)
    assert text.choices[0].logprobs is not None
    assert len(text.choices[0].logprobs.top_logprobs or []) == 3
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Rome", "Lyon"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    shaped = client.chat.completions.create(
        model=MODEL,
        messages=FRANCE,
        max_tokens=30,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
    )
    assert json.loads(shaped.choices[0].message.content or "") == {"city": "Paris"}


@pytest.fixture(scope="module")
def expected(smollm2_dir: Path, vllm_adapters: dict[str, Path]) -> dict[str, str]:
    """Greedy 8-token completions of PROMPT by transformers (+ PEFT), per served model name."""
    return {
        MODEL: reference(smollm2_dir, None),
        **{name: reference(smollm2_dir, path) for name, path in vllm_adapters.items()},
    }


def test_adapters_chosen_by_model_match_transformers_with_peft(client: openai.OpenAI, expected: dict[str, str]) -> None:
    got = {
        name: client.completions.create(model=name, prompt=PROMPT, max_tokens=8, temperature=0).choices[0].text
        for name in expected
    }
    assert len(set(expected.values())) == 3  # the adapters really change the output
    assert got == expected  # greedy, float32: token for token


def test_base_and_adapters_in_one_batch_stay_apart(client: openai.OpenAI, expected: dict[str, str]) -> None:
    """Base-model requests decoded beside adapter requests keep the base model's output (vLLM's CPU
    LoRA kernels alone get them wrong; LargeForge serves the base through a zero adapter)."""
    models = [MODEL, "alpha", "beta", MODEL]

    def ask(i: int, results: dict[int, str]) -> None:
        reply = client.completions.create(model=models[i], prompt=PROMPT, max_tokens=8, temperature=0)
        results[i] = reply.choices[0].text

    for _ in range(2):
        results: dict[int, str] = {}
        threads = [threading.Thread(target=ask, args=(i, results)) for i in range(len(models))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [results[i] for i in range(len(models))] == [expected[m] for m in models]


def test_client_errors_are_4xx(client: openai.OpenAI, vllm_server: VLLMServer) -> None:
    with pytest.raises(openai.BadRequestError, match="maximum context length is 1024 tokens") as info:
        client.completions.create(model=MODEL, prompt="hello " * MAX_MODEL_LEN, max_tokens=4)
    assert info.value.status_code == 400
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.completions.create(model="gamma", prompt=PROMPT, max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=-3)
    response = httpx.post(
        vllm_server.url + "/chat/completions", content=b"{not json", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 400


def test_api_key_guards_v1_but_not_probes(vllm_server: VLLMServer) -> None:
    bad = openai.OpenAI(base_url=vllm_server.url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model=MODEL, prompt=PROMPT, max_tokens=2)
    assert httpx.get(root(vllm_server) + "/health").status_code == 200
    assert httpx.get(root(vllm_server) + "/metrics").status_code == 200


def test_request_id_is_echoed(vllm_server: VLLMServer) -> None:
    response = httpx.post(
        vllm_server.url + "/completions",
        timeout=120,
        json={"model": MODEL, "prompt": PROMPT, "max_tokens": 2},
        headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "req-42"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"


@pytest.fixture()
def long_streams(vllm_server: VLLMServer) -> Iterator[list[httpx.Response]]:
    """As many long streaming requests as the admission holds, the decoding ones past their first chunk."""
    http = httpx.Client(timeout=300, headers={"Authorization": f"Bearer {API_KEY}"})
    streams: list[httpx.Response] = []
    readers: list[Iterator[bytes]] = []  # kept: a dropped iterator closes its response
    body = {
        "model": MODEL,
        "prompt": "Count to one thousand:",
        "max_tokens": 900,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,
    }
    try:
        for _ in range(sum(CAPACITY)):
            response = http.send(http.build_request("POST", vllm_server.url + "/completions", json=body), stream=True)
            assert response.status_code == 200
            streams.append(response)
        for response in streams[: CAPACITY[0]]:
            readers.append(response.iter_bytes())
            next(readers[-1])
        yield streams
    finally:
        for response in streams:
            response.close()
        http.close()


def test_backpressure_then_cancellation_on_disconnect(
    vllm_server: VLLMServer, long_streams: list[httpx.Response]
) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 2}
    refused = httpx.post(vllm_server.url + "/completions", json=body, headers=headers, timeout=60)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "server_overloaded"
    before = httpx.get(root(vllm_server) + "/metrics").text
    for response in long_streams:  # the clients go away mid-stream
        response.close()
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(root(vllm_server) + "/metrics").text
        running = metric(text, "vllm:num_requests_running") + metric(text, "vllm:num_requests_waiting")
        if running == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert running == 0, "vLLM still runs the requests of clients that went away"
    # 4 streams of 900 tokens were asked for; they stopped when their clients left
    assert metric(text, "vllm:generation_tokens_total") < metric(before, "vllm:generation_tokens_total") + 900
    again = httpx.post(vllm_server.url + "/completions", json=body, headers=headers, timeout=120)
    assert again.status_code == 200  # the places were freed


def test_metrics_carry_largeforges_and_vllms(client: openai.OpenAI, vllm_server: VLLMServer) -> None:
    client.completions.create(model="alpha", prompt=PROMPT, max_tokens=3, temperature=0)
    text = httpx.get(root(vllm_server) + "/metrics").text
    assert metric(text, "largeforge_requests_total", endpoint="/v1/completions", status="200") >= 1
    assert metric(text, "vllm:generation_tokens_total") >= 3
    assert metric(text, "vllm:prompt_tokens_total") > 0
    assert "vllm:time_to_first_token_seconds_bucket" in text
