"""TransformersEngine on the tiny model: batching keeps each request's output exact, and every
request has its own limits, stop sequences, seed and slot."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from largeforge.config import GenerationConfig, InferenceConfig
from largeforge_serve.engines.base import EngineOverloadedError, EngineRequestError, SamplingParams
from largeforge_serve.engines.transformers_engine import TransformersEngine

PROMPTS = ["The quick brown fox", "1 2 3 4 5 6 7 8 9 10 11 12", "Hello", "A much longer prompt about the sea and ships"]
GREEDY = SamplingParams(temperature=0, max_tokens=10)


def reference(engine: TransformersEngine, prompt: str, max_tokens: int) -> str:
    """What plain ``model.generate`` (greedy, one prompt at a time) produces."""
    ids = engine.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = engine.model.generate(**ids, max_new_tokens=max_tokens, do_sample=False)
    return str(engine.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))


def run(engine: TransformersEngine, prompt: str, params: SamplingParams = GREEDY) -> tuple[str, Any]:
    events = list(engine.stream_events(prompt, params))
    return "".join(e.text for e in events), events[-1]


def test_requests_joining_a_running_batch_get_exactly_what_generate_gives(tiny_engine: Any) -> None:
    expected = {p: reference(tiny_engine, p, GREEDY.max_tokens) for p in PROMPTS}
    results: dict[str, str] = {}

    def worker(prompt: str) -> None:
        results[prompt] = run(tiny_engine, prompt)[0]

    # The first request is already decoding when the others arrive (they join mid-batch, with
    # different prompt lengths, and leave at different steps).
    first = tiny_engine.stream_events(PROMPTS[0], GREEDY)
    pieces = [next(first).text, next(first).text]
    threads = [threading.Thread(target=worker, args=(p,)) for p in PROMPTS[1:]]
    for thread in threads:
        thread.start()
    results[PROMPTS[0]] = "".join(pieces + [e.text for e in first])
    for thread in threads:
        thread.join()
    assert results == expected


def test_max_tokens_usage_and_finish_reason(tiny_engine: Any) -> None:
    text, last = run(tiny_engine, "Count:", SamplingParams(temperature=0, max_tokens=7))
    assert (last.finish_reason, last.completion_tokens) == ("length", 7)
    assert last.prompt_tokens == len(tiny_engine.encode("Count:"))
    assert text == reference(tiny_engine, "Count:", 7)


def test_stop_sequence_ends_generation_without_appearing(tiny_engine: Any) -> None:
    full, _ = run(tiny_engine, PROMPTS[0], SamplingParams(temperature=0, max_tokens=12))
    stop = full[len(full) // 2 :][:3]
    assert stop.strip(), full
    text, last = run(tiny_engine, PROMPTS[0], SamplingParams(temperature=0, max_tokens=12, stop=(stop,)))
    assert text == full[: full.index(stop)]
    assert last.finish_reason == "stop"


def test_seeded_sampling_is_reproducible_per_request(tiny_engine: Any) -> None:
    params = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, max_tokens=8, seed=7)
    assert run(tiny_engine, "Hello", params)[0] == run(tiny_engine, "Hello", params)[0]
    other = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, max_tokens=8, seed=8)
    assert run(tiny_engine, "Hello", params)[0] != run(tiny_engine, "Hello", other)[0]


def test_core_contract_generate_and_generate_stream(tiny_engine: Any) -> None:
    config = GenerationConfig(temperature=0, max_tokens=5)
    assert tiny_engine.generate("Hello", config) == "".join(tiny_engine.generate_stream("Hello", config))
    info = tiny_engine.model_info
    assert info["backend"] == "transformers"
    assert info["device"] == "cpu"
    assert info["memory_used"] > 0


def test_cancelled_streams_free_their_slots(tiny_engine: Any) -> None:
    async def scenario() -> None:
        long = SamplingParams(temperature=0, max_tokens=5000)
        streams = [tiny_engine.submit(p, long) for p in PROMPTS]
        for stream in streams:
            await stream.__anext__()
        assert tiny_engine.stats().active == len(PROMPTS)
        for stream in streams:
            stream.cancel()
        for _ in range(200):
            if tiny_engine.stats().active == 0:
                break
            await asyncio.sleep(0.05)
        assert tiny_engine.stats().active == 0

    asyncio.run(scenario())


def test_context_limit_bounds_prompt_and_completion(tiny_model_dir: Path) -> None:
    with TransformersEngine(
        str(tiny_model_dir), InferenceConfig(max_model_len=128), max_batch_size=1, max_queue=1, threads=1
    ) as engine:
        assert engine.max_model_len == 128
        with pytest.raises(EngineRequestError, match="context is 128 tokens"):
            engine.generate("word " * 200)
        prompt = "word " * 120
        _, last = run(engine, prompt, SamplingParams(temperature=0, max_tokens=50))
        assert last.finish_reason == "length"
        assert last.prompt_tokens + last.completion_tokens == 128

        async def overload() -> None:
            long = SamplingParams(temperature=0, max_tokens=500)
            running = engine.submit("a", long)
            await running.__anext__()  # now it holds the only slot
            queued = engine.submit("b", long)
            with pytest.raises(EngineOverloadedError):
                engine.submit("c", long)
            running.cancel()
            queued.cancel()

        asyncio.run(overload())
    assert not engine.is_loaded


def test_a_request_that_cannot_start_fails_alone(tiny_engine: Any) -> None:
    _, last = run(tiny_engine, "Hello", SamplingParams(temperature=1.0, seed=2**70, max_tokens=3))
    assert last.finish_reason == "error"
    assert last.error is not None and "cannot start" in last.error
    assert run(tiny_engine, "Hello", GREEDY)[1].finish_reason in ("stop", "length")  # worker still alive
