"""vLLM's gateway answers in OpenAI's published shapes and refuses what the transformers server
refuses, alike (the conformance suite of ``tests/e2e/test_openai_conformance.py``, cut down to a
few generations: vLLM on a CPU is slow to start and to answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.openai_schema import Record
from tests.contract.suite import REFUSED, refusals, run_door
from tests.serve.serve_testing import running_server
from tests.vllm.vllm_testing import API_KEY, MODEL, VLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
#: Not "tools": vLLM refuses `tool_choice: auto` unless started with a tool-call parser for the model.
FEW = {"plain", "logprobs", "content-parts", "max-completion-tokens", "stop-seed"}


def test_vllm_gateway_conforms(vllm_server: VLLMServer) -> None:
    record = Record("vllm")
    url = vllm_server.url.removesuffix("/v1")
    assert run_door(record, url, MODEL, api_key=API_KEY, only=FEW) == [MODEL, "alpha", "beta"]
    refusals(record, url, MODEL, api_key=API_KEY)
    print(f"vllm: {record.requests} requests, {record.checked} answers checked")
    assert not record.violations, record.summary()


def test_vllm_gateway_refuses_as_the_transformers_server(vllm_server: VLLMServer, tiny_model_dir: Path) -> None:
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(tiny_model_dir), max_batch_size=1, max_queue=4, threads=1)
    engine.load()
    try:
        with running_server(engine, model_name=MODEL) as server:
            reference = refusals(Record("transformers"), server.url.removesuffix("/v1"), MODEL)
    finally:
        engine.unload()
    got = refusals(Record("vllm"), vllm_server.url.removesuffix("/v1"), MODEL, api_key=API_KEY)
    assert set(reference) == set(REFUSED)
    assert {n: r for n, r in got.items() if reference[n] != r} == {}, reference
