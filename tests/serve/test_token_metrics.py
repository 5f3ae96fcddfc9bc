"""Issue 15, defect 8 (server part): time to first token and inter-token latency histograms,
as vLLM exposes them, for streamed and non-streamed requests alike."""

from __future__ import annotations

import re
from typing import Any

import httpx


def sample(text: str, name: str, endpoint: str) -> float:
    match = re.search(rf'^{name}{{endpoint="{re.escape(endpoint)}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_ttft_and_inter_token_latency_are_observed(tiny_engine: Any, server_factory: Any) -> None:
    with server_factory(tiny_engine) as server:  # its own metrics registry
        tokens = 0
        body = {"model": "tiny", "messages": [{"role": "user", "content": "Count"}], "max_tokens": 6, "temperature": 0}
        reply = httpx.post(f"{server.url}/chat/completions", json=body, timeout=60).json()
        tokens += reply["usage"]["completion_tokens"] - 1
        streamed = httpx.post(
            f"{server.url}/chat/completions",
            timeout=60,
            json={**body, "stream": True, "stream_options": {"include_usage": True}},
        )
        usage = [line for line in streamed.text.splitlines() if '"usage":{' in line]
        tokens += int(re.search(r'"completion_tokens":(\d+)', usage[-1]).group(1)) - 1  # type: ignore[union-attr]
        completion = httpx.post(
            f"{server.url}/completions",
            timeout=60,
            json={"model": "tiny", "prompt": ["a", "b"], "max_tokens": 3, "temperature": 0},
        )
        assert completion.status_code == 200
        text = httpx.get(server.url.removesuffix("/v1") + "/metrics").text
    chat = "/v1/chat/completions"
    assert sample(text, "largeforge_time_to_first_token_seconds_count", chat) == 2
    assert sample(text, "largeforge_inter_token_latency_seconds_count", chat) == tokens
    assert sample(text, "largeforge_inter_token_latency_seconds_sum", chat) > 0
    assert sample(text, "largeforge_time_to_first_token_seconds_count", "/v1/completions") == 2  # a choice each
