"""Issue 15, defect 12: tokenization does not block the event loop, and a prompt whose byte
length proves it too long is refused without being encoded.

A ~950 KB prompt once took 12.9 s to be refused, and a concurrent ``/health`` as long: longer than
the router's health-check timeout, so one large prompt could get a healthy expert marked down.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx


def test_byte_length_proves_a_prompt_too_long(tiny_server: Any, tiny_engine: Any) -> None:
    from largeforge_serve.engines.transformers_engine import max_token_bytes

    bound = max_token_bytes(tiny_engine.tokenizer)
    assert bound is not None and bound > 1  # SmolLM2's tokenizer is byte-level BPE
    prompt = "hello world " * 80_000  # 960 KB, under the 1 MB body limit
    response = httpx.post(f"{tiny_server.url}/completions", json={"model": "tiny", "prompt": prompt}, timeout=60)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "prompt"
    assert error["message"].startswith("the prompt has at least ")  # refused before encoding


def test_health_answers_while_long_prompts_are_encoded(tiny_server: Any, tiny_engine: Any) -> None:
    # Below the byte bound (so each is encoded: ~200k tokens), then refused as too long.
    prompt = "x y" * 100_000  # 300 KB: SmolLM2's longest token is 162 bytes, 162 × 2048 is more
    statuses: list[int] = []

    def long_request() -> None:
        body = {"model": "tiny", "messages": [{"role": "user", "content": prompt}]}
        statuses.append(httpx.post(f"{tiny_server.url}/chat/completions", json=body, timeout=120).status_code)

    base = tiny_server.url.removesuffix("/v1")
    threads = [threading.Thread(target=long_request) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    health: list[float] = []
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        assert httpx.get(f"{base}/health", timeout=30).status_code == 200
        health.append(time.monotonic() - t0)
        time.sleep(0.02)
    busy = time.monotonic() - started
    assert statuses == [400, 400, 400]
    assert len(health) >= 3, (busy, health)
    assert max(health) < busy / 2, (busy, health)  # the loop kept answering while encoding ran
