"""Several LoRA adapters on one base model: the request's ``model`` picks one, and requests for
different adapters share a batch without mixing their outputs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from largeforge_serve.engines.transformers_engine import TransformersEngine
from tests.serve.serve_testing import GREEDY, PROMPT, make_adapter, reference


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "alpha": make_adapter(tiny_model_dir, root / "alpha", 1),
        "beta": make_adapter(tiny_model_dir, root / "beta", 2),
    }


@pytest.fixture(scope="module")
def multi_engine(tiny_model_dir: Path, adapters: dict[str, Path]) -> Iterator[TransformersEngine]:
    engine = TransformersEngine(
        str(tiny_model_dir), adapters={k: str(v) for k, v in adapters.items()}, max_batch_size=4, threads=1
    )
    engine.load()
    yield engine
    engine.unload()


def test_mixed_adapter_batch_matches_each_adapter_alone(
    multi_engine: TransformersEngine, tiny_model_dir: Path, adapters: dict[str, Path]
) -> None:
    expected = {
        None: reference(tiny_model_dir, None),
        **{name: reference(tiny_model_dir, path) for name, path in adapters.items()},
    }
    assert len(set(expected.values())) == 3  # the adapters really change the output
    results: dict[str | None, str] = {}

    def worker(name: str | None) -> None:
        events = multi_engine.stream_events(PROMPT, GREEDY, adapter=name)
        results[name] = "".join(e.text for e in events)

    threads = [threading.Thread(target=worker, args=(name,)) for name in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


def test_server_lists_adapters_and_routes_by_model(multi_engine: TransformersEngine, server_factory: Any) -> None:
    with server_factory(multi_engine, model_name="tiny-base") as server:
        client = openai.OpenAI(base_url=server.url, api_key="-", max_retries=0)
        cards = {m.id: m for m in client.models.list()}
        assert list(cards) == ["tiny-base", "alpha", "beta"]
        assert cards["alpha"].parent == "tiny-base"  # type: ignore[attr-defined]
        texts = {}
        for model in cards:
            reply = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0)
            texts[model] = reply.choices[0].text
        direct = "".join(e.text for e in multi_engine.stream_events(PROMPT, GREEDY, adapter="beta"))
        assert texts["beta"] == direct
        assert len(set(texts.values())) == 3
