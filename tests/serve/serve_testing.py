"""Helpers for serve tests (and the e2e and vLLM tests that drive a server): random LoRA
adapters for the tiny model, what PEFT + transformers answer with one, and a real server on a
free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import torch

from largeforge_serve.engines.base import SamplingParams

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


@contextmanager
def running_server(engine: Any, **settings: Any) -> Iterator[Any]:
    """An InferenceServer for ``engine`` on a free loopback port, stopped on exit."""
    from largeforge_serve.server.app import ServerSettings
    from largeforge_serve.server.runner import InferenceServer

    settings.setdefault("model_name", "tiny")
    settings.setdefault("drain_timeout", 5.0)
    server = InferenceServer(engine, ServerSettings(**settings), host="127.0.0.1", port=0)
    server.start_background()
    try:
        yield server
    finally:
        server.stop()


def complete(url: str, model: str) -> str:
    """The greedy completion of :data:`PROMPT` by ``model`` at the server ``url``."""
    client = openai.OpenAI(base_url=url, api_key="-", max_retries=0)
    out = client.completions.create(model=model, prompt=PROMPT, max_tokens=GREEDY.max_tokens, temperature=0)
    return str(out.choices[0].text)
