"""Every OpenAI door of LargeForge answers in OpenAI's own published shapes.

Three doors, each a real process on loopback: ``largeforge serve inference`` on the tiny model
(transformers engine), the same model as a GGUF behind the llamacpp gateway, and ``router
serve`` in front of them. Each gets the ordinary requests of :mod:`tests.contract.suite` (chat
and legacy completions, plain, streamed and streamed with usage; model listing and lookup) and
every answer is validated against OpenAI's schema (``tests/contract/openai_schema.json``, cut
from ``openai/openai-openapi``). Requests the transformers server refuses must be refused with
the same status, type, param and code by every other door. (vLLM's gateway:
``tests/vllm/test_vllm_conformance.py``.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.contract.openai_schema import Record
from tests.contract.suite import REFUSED, Refusal, check_models, refusals, run_door

pytestmark = pytest.mark.e2e
SERVER_ARGS = ["--threads", "1", "--max-concurrency", "2", "--max-model-len", "512"]


@dataclass
class Door:
    name: str
    url: str  # http://127.0.0.1:PORT
    model: str  # what a client names in `model`


def _serve(args: list[str]) -> Iterator[Door]:
    import httpx

    from largeforge_serve.launch import ServerProcess

    with ServerProcess([*args, *SERVER_ARGS], timeout=300) as proc:
        url = proc.url.removesuffix("/v1")
        model = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]
        yield Door("serve", url, model)


@pytest.fixture(scope="module")
def transformers_door(tiny_model_dir: Path) -> Iterator[Door]:
    """``serve inference --model DIR``: no ``--served-model-name``, so the default name serves."""
    for door in _serve(["--model", str(tiny_model_dir), "--backend", "transformers"]):
        door.name = "transformers"
        yield door


def _with_llamacpp() -> bool:
    from largeforge_serve.engines.llamacpp import llamacpp_available

    return llamacpp_available() and os.environ.get("LARGEFORGE_SKIP_LLAMACPP") != "1"


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _with_llamacpp():
        pytest.skip("llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)")
    from largeforge_quant.gguf import convert_model

    return convert_model(tiny_model_dir, tmp_path_factory.mktemp("conformance") / "tiny-f32.gguf", "f32")


@pytest.fixture(scope="module")
def llamacpp_door(tiny_gguf: Path) -> Iterator[Door]:
    for door in _serve(["--model", str(tiny_gguf)]):
        door.name = "llamacpp"
        yield door


def _other_engines(request: pytest.FixtureRequest) -> list[Door]:
    """The gateway doors this machine can run (llama.cpp's when it is installed)."""
    return [request.getfixturevalue("llamacpp_door")] if _with_llamacpp() else []


@pytest.fixture(scope="module")
def router_door(
    transformers_door: Door, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Door]:
    """The router with two experts on the transformers server and one (``gguf``) on the llamacpp
    gateway where llama.cpp is installed."""
    from largeforge_router.launch import RouterProcess

    def expert(name: str, door: Door, keywords: list[str]) -> dict[str, object]:
        return {"name": name, "endpoints": [door.url], "model_path": door.model, "keywords": keywords, "max_tokens": 16}

    config = {
        "experts": [
            expert("general", transformers_door, []),
            expert("code", transformers_door, ["python", "function"]),
            *(expert("gguf", door, ["gguf"]) for door in _other_engines(request)),
        ],
        "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
        "server": {"health_check_interval": 2, "health_check_timeout": 10},
    }
    path = tmp_path_factory.mktemp("conformance-router") / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    with RouterProcess(path) as router:
        yield Door("router", router.url, "auto")


def _assert_conforms(record: Record) -> None:
    print(
        f"{record.door}: {record.requests} requests, {record.checked} answers checked, "
        f"{len(record.violations)} violations"
    )
    assert not record.violations, record.summary()


def _conformance(door: Door, *models: str) -> Record:
    record = Record(door.name)
    for model in models or (door.model,):
        run_door(record, door.url, model)
    refusals(record, door.url, door.model)
    return record


def test_transformers_server_conforms(transformers_door: Door) -> None:
    _assert_conforms(_conformance(transformers_door))


def test_llamacpp_gateway_conforms(llamacpp_door: Door) -> None:
    _assert_conforms(_conformance(llamacpp_door))


def test_router_conforms(router_door: Door, request: pytest.FixtureRequest) -> None:
    """Routed (``auto``), and named to the expert on the llamacpp gateway where there is one."""
    _assert_conforms(_conformance(router_door, "auto", *("gguf" for _ in _other_engines(request))))


def test_served_names_are_short_and_every_model_is_found(
    transformers_door: Door, router_door: Door, tiny_model_dir: Path, request: pytest.FixtureRequest
) -> None:
    """The default served name is the model's own name (never a path), and ``GET
    /v1/models/{id}`` answers for every id each door lists."""
    import httpx

    gateways = _other_engines(request)
    assert transformers_door.model == tiny_model_dir.name
    for door in gateways:
        assert door.model == request.getfixturevalue("tiny_gguf").stem
    record = Record("models")
    with httpx.Client(base_url=router_door.url, timeout=60) as http:
        listed = check_models(http, record)
        assert listed[0] == "auto" and sorted(listed[1:]) == sorted(["general", "code", *("gguf" for _ in gateways)])
    for door in (transformers_door, *gateways):
        with httpx.Client(base_url=door.url, timeout=60) as http:
            assert check_models(http, record) == [door.model]
    _assert_conforms(record)


def test_every_door_refuses_alike(transformers_door: Door, router_door: Door, request: pytest.FixtureRequest) -> None:
    """What the transformers server refuses, the llamacpp gateway and the router refuse with the
    same status, type, param and code."""
    reference = refusals(Record("transformers"), transformers_door.url, transformers_door.model)
    assert set(reference) == set(REFUSED)
    assert all(400 <= r.status < 500 for r in reference.values()), reference
    assert reference["temperature-too-high"] == Refusal(400, "invalid_request_error", "temperature", None)
    assert reference["too-many-tokens"].param == "max_tokens"
    assert reference["unknown-model"] == Refusal(404, "invalid_request_error", "model", "model_not_found")
    for door in (*_other_engines(request), router_door):
        got = refusals(Record(door.name), door.url, door.model)
        differ = {name: (got.get(name), want) for name, want in reference.items() if got.get(name) != want}
        assert not differ, f"{door.name} refuses differently (got, transformers):\n" + "\n".join(
            f"{name}: {pair}" for name, pair in differ.items()
        )
