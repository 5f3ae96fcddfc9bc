"""End to end: the router in front of real ``largeforge serve`` processes on a tiny model.

Two live experts (code, general) plus a dead replica of ``code`` and a ``math`` expert whose only
endpoint is dead. Queries reach the right expert, the dead replica's circuit opens (visible in
``GET /experts``), no client request fails, and the circuit closes once a server comes back on
that port.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def serve(model: Path, name: str, port: int = 0):  # type: ignore[no-untyped-def]
    from largeforge_serve.launch import ServerProcess

    proc = ServerProcess(
        [
            *("--model", str(model), "--backend", "transformers", "--served-model-name", name),
            *("--port", str(port), "--max-concurrency", "2"),
        ],
        timeout=300,
    )
    return proc


def circuits(url: str) -> dict[str, dict[str, str]]:
    listing = httpx.get(f"{url}/experts", timeout=10).json()["experts"]
    return {e["name"]: {ep["url"]: ep["circuit"]["state"] for ep in e["endpoints"]} for e in listing}


def wait_for(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.25)


def test_router_failover_with_real_expert_servers(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_router.launch import RouterProcess

    code_srv, general_srv = serve(tiny_model_dir, "code"), serve(tiny_model_dir, "general")
    with ThreadPoolExecutor(2) as pool:  # start both at once; each waits for its "serving" line
        list(pool.map(lambda proc: proc.start(), (code_srv, general_srv)))
    dead_port, math_port = free_port(), free_port()
    code_url = code_srv.url.removesuffix("/v1")
    dead_url = f"http://127.0.0.1:{dead_port}"
    config = {
        "experts": [
            {
                "name": "code",
                "keywords": ["python", "bug", "function"],
                "endpoints": [code_url, dead_url],
                "max_tokens": 8,
            },
            {
                "name": "math",
                "keywords": ["integral", "derivative"],
                "endpoints": [f"http://127.0.0.1:{math_port}"],
                "max_tokens": 8,
            },
            {"name": "general", "endpoints": [general_srv.url.removesuffix("/v1")], "max_tokens": 8},
        ],
        "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
        "server": {
            "failure_threshold": 2,
            "reset_timeout": 1.0,
            "health_check_interval": 0.5,
            "health_check_timeout": 10,  # a slow probe on a busy machine is not a dead replica
            "load_balancing": "round_robin",
        },
    }
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    revived = None
    try:
        with RouterProcess(path) as router:
            client = openai.OpenAI(base_url=f"{router.url}/v1", api_key="-", max_retries=0)
            served_by = []
            for _ in range(6):
                raw = client.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": "my python function has a bug"}]
                )
                reply = raw.parse()
                assert reply.model == "code"  # the code expert's server answered
                served_by.append(raw.headers["x-largeforge-endpoint"])
            assert set(served_by) == {code_url}  # the dead replica never answered, nobody failed

            # A math query: its only endpoint is dead, the fallback expert answers.
            fallback = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": "integral of a derivative"}]
            )
            assert fallback.parse().model == "general"
            assert fallback.headers["x-largeforge-expert"] == "general"

            # Streaming passes through from a real server.
            pieces = list(
                client.chat.completions.create(
                    model="auto", stream=True, messages=[{"role": "user", "content": "python"}]
                )
            )
            assert pieces and all(p.model == "code" for p in pieces)

            # Probes and failed attempts opened the dead circuits; GET /experts reports it.
            wait_for(lambda: circuits(router.url)["code"][dead_url] in ("open", "half_open"))
            assert circuits(router.url)["code"][code_url] == "closed"

            # The dead replica comes back: the circuit closes and it takes traffic again.
            revived = serve(tiny_model_dir, "code", port=dead_port)
            revived.start()
            wait_for(lambda: circuits(router.url)["code"][dead_url] == "closed")
            endpoints = set()
            for _ in range(4):
                raw = client.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": "python bug"}]
                )
                assert raw.parse().model == "code"
                endpoints.add(raw.headers["x-largeforge-endpoint"])
            assert endpoints == {code_url, dead_url}
            metrics = httpx.get(f"{router.url}/metrics").text
            assert "largeforge_router_fallbacks_total" in metrics
    finally:
        for proc in (revived, code_srv, general_srv):
            if proc is not None:
                proc.stop()
