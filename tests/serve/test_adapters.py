"""Several LoRA adapters on one base model: the request's ``model`` picks one, and requests for
different adapters share a batch without mixing their outputs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import torch

from largeforge_serve.engines.base import SamplingParams
from largeforge_serve.engines.transformers_engine import TransformersEngine

GREEDY = SamplingParams(temperature=0, max_tokens=8)
PROMPT = "The weather today is"


def make_adapter(base: Path, target: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    # init_lora_weights=False: random A and B, so each adapter visibly changes the output.
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(target)
    return target


def reference(base: Path, adapter: Path | None) -> str:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model: Any = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    ids = tokenizer(PROMPT, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=GREEDY.max_tokens, do_sample=False)
    return str(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))


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
