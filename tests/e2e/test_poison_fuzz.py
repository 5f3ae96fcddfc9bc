"""Issue 15 (defect 1, done-when): poison requests mixed with normal ones, sent concurrently to a
real ``largeforge serve`` (tiny model) and through a real ``largeforge router serve`` in front of
it, fail no normal request and open no circuit.

Poison: values at the edge of the schema (``top_p`` 1e-45 and 5e-324, ``temperature`` 1e-300),
which once failed every request decoded in the same step, plus bodies the server must refuse
with a 4xx (which the router must pass through without counting a fault).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e

EDGE = [
    {"top_p": 1e-45},
    {"temperature": 1e-300},
    {"top_p": 5e-324, "temperature": 2.0},
    {"temperature": 5e-324, "top_p": 1e-45, "top_k": 1},
    {"temperature": 1e-12, "seed": 7},
]
REFUSED = [
    {"top_p": 0},
    {"temperature": -1},
    {"max_tokens": 0},
    {"messages": []},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
]


def requests(seed: int, model: str) -> list[tuple[str, dict[str, Any]]]:
    """A shuffled mix: ("normal" | "edge" | "refused", chat body)."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(36):
        kind = ("normal", "normal", "edge", "refused")[i % 4]
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": 6,
            "stream": rng.random() < 0.4,
            "messages": [{"role": "user", "content": f"Tell me about {rng.random():.4f}"}],
        }
        if kind == "edge":
            body.update(rng.choice(EDGE))
        elif kind == "refused":
            body.update(rng.choice(REFUSED))
        out.append((kind, body))
    rng.shuffle(out)
    return out


def send(url: str, kind: str, body: dict[str, Any]) -> tuple[str, int, str]:
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    return kind, response.status_code, response.text


def check(results: list[tuple[str, int, str]]) -> None:
    failed_normal = [r for r in results if r[0] == "normal" and (r[1] != 200 or '"error"' in r[2])]
    assert not failed_normal, f"{len(failed_normal)} normal requests failed: {failed_normal[:2]}"
    for kind, status, text in results:
        if kind == "refused":
            assert 400 <= status < 500, (kind, status, text)
        else:  # normal and edge values: answered in full
            assert status == 200, (kind, status, text)
            assert '"error"' not in text and '"finish_reason"' in text, (kind, text)


def test_poison_mixed_with_normal_requests_server_and_router(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_router.launch import RouterProcess
    from largeforge_serve.launch import ServerProcess

    with ServerProcess(
        [
            *("--model", str(tiny_model_dir), "--backend", "transformers", "--served-model-name", "general"),
            *("--max-concurrency", "4", "--threads", "1"),
        ],
        timeout=300,
    ) as server:
        base = server.url.removesuffix("/v1")
        with ThreadPoolExecutor(8) as pool:
            direct = list(pool.map(lambda job: send(base, *job), requests(1, "general")))
        check(direct)

        config = {
            "experts": [{"name": "general", "endpoints": [base], "max_tokens": 8}],
            "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
            "server": {
                "failure_threshold": 3,
                "reset_timeout": 60,
                "health_check_interval": 1,
                "health_check_timeout": 10,
            },
        }
        path = tmp_path / "router.yaml"
        path.write_text(yaml.safe_dump(config))
        with RouterProcess(path) as router:
            with ThreadPoolExecutor(8) as pool:
                routed = list(pool.map(lambda job: send(router.url, *job), requests(2, "auto")))
            check(routed)
            listing = httpx.get(f"{router.url}/experts", timeout=10).json()["experts"]
            circuit = listing[0]["endpoints"][0]["circuit"]
            assert circuit["state"] == "closed" and circuit["transitions"] == [], circuit
            assert listing[0]["endpoints"][0]["failures"] == 0
            metrics = httpx.get(f"{router.url}/metrics", timeout=10).text
            assert "largeforge_router_upstream_failures_total{" not in metrics
