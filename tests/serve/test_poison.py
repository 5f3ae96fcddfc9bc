"""Issue 15, defect 1: no request can fail the requests batched with it.

Values at the edge of what the API accepts (``top_p`` down to the smallest double, ``temperature``
down to 5e-324) sample a valid token, and a failure while sampling one row fails only that row's
request: the others in the same decode step finish normally.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import torch

from largeforge_serve.engines import generation_task, scheduler
from largeforge_serve.engines.base import SamplingParams
from largeforge_serve.engines.sampling import Sampler

TINY = (5e-324, 1e-320, 1e-300, 1e-45, 1e-38, 1e-8)


@pytest.mark.parametrize("top_p", TINY)
def test_tiny_top_p_keeps_the_most_likely_token(top_p: float) -> None:
    logits = torch.randn(4096, generator=torch.Generator().manual_seed(1)) * 8
    sampler = Sampler(SamplingParams(temperature=1.0, top_p=top_p, top_k=0, seed=3))
    assert sampler(logits, []) == int(torch.argmax(logits))


@pytest.mark.parametrize("temperature", [*TINY, 1e-6])
def test_tiny_temperature_is_greedy(temperature: float) -> None:
    logits = torch.randn(4096, generator=torch.Generator().manual_seed(2)) * 8
    for top_p, top_k in ((0.9, 50), (1.0, 0), (1e-45, 0)):
        sampler = Sampler(SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, seed=5))
        assert sampler(logits, [1, 2, 3]) == int(torch.argmax(logits))


def test_extreme_logits_still_sample() -> None:
    """Huge logits divided by a small (not greedy) temperature overflow float32 unless shifted."""
    logits = torch.full((100,), -3e38)
    logits[7] = 3e38
    sampler = Sampler(SamplingParams(temperature=1e-4, top_p=0.5, top_k=0, seed=1))
    assert sampler(logits, []) == 7


POISON = [
    {"top_p": 1e-45},
    {"temperature": 1e-300},
    {"top_p": 5e-324, "temperature": 2},
    {"temperature": 5e-324, "top_p": 1e-45},
]


def test_poison_requests_batched_with_normal_ones_all_succeed(tiny_server: Any) -> None:
    """Over HTTP, poison and normal requests decoded in the same steps: every one answers 200."""
    results: list[tuple[dict[str, Any], int, str]] = []
    lock = threading.Lock()

    def ask(extra: dict[str, Any], stream: bool) -> None:
        body = {
            "model": "tiny",
            "messages": [{"role": "user", "content": "Tell me a story"}],
            "max_tokens": 12,
            "stream": stream,
            **extra,
        }
        response = httpx.post(f"{tiny_server.url}/chat/completions", json=body, timeout=120)
        with lock:
            results.append((extra, response.status_code, response.text))

    jobs = [(p, False) for p in POISON] + [
        ({}, False),
        ({}, True),
        ({"temperature": 0.8}, True),
        ({"top_p": 1e-45}, True),
    ]
    threads = [threading.Thread(target=ask, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(jobs)
    for extra, status, text in results:
        assert status == 200, (extra, text)
        assert '"error"' not in text, (extra, text)


class _FailingSampler(Sampler):
    """Fault injection: the sampler of requests seeded 666 raises on its ``fail_at``-th call."""

    fail_at = 1

    def __init__(self, params: SamplingParams) -> None:
        super().__init__(params)
        self.calls = 0

    def __call__(self, logits: torch.Tensor, seen: list[int]) -> int:
        self.calls += 1
        if self.params.seed == 666 and self.calls == self.fail_at:
            raise RuntimeError("injected sampling fault")
        return super().__call__(logits, seen)


@pytest.mark.parametrize("fail_at", [1, 3])  # 1: in the prefill step, 3: in a decode step
def test_a_row_that_fails_to_sample_fails_only_its_request(
    tiny_engine: Any, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(_FailingSampler, "fail_at", fail_at)
    monkeypatch.setattr(generation_task, "Sampler", _FailingSampler)
    normal = SamplingParams(temperature=0, max_tokens=8)
    poisoned = SamplingParams(temperature=0.7, max_tokens=8, seed=666)
    outcomes: dict[int, Any] = {}
    gate = threading.Barrier(4)

    def run(index: int, params: SamplingParams) -> None:
        gate.wait()
        outcomes[index] = list(tiny_engine.stream_events("Once upon a time", params))[-1]

    threads = [threading.Thread(target=run, args=(i, poisoned if i == 1 else normal)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in (0, 2, 3):
        assert outcomes[i].error is None and outcomes[i].finish_reason == "length", outcomes[i]
        assert outcomes[i].completion_tokens == 8
    assert outcomes[1].finish_reason == "error" and "injected sampling fault" in outcomes[1].error
    assert outcomes[1].fault == "request"


def test_a_request_fault_is_a_500_that_names_the_request(tiny_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server tells a router the failure is this request's alone (no circuit, no retry)."""
    monkeypatch.setattr(generation_task, "Sampler", _FailingSampler)
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "temperature": 0.7,
        "seed": 666,
    }
    response = httpx.post(f"{tiny_server.url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 500
    assert response.headers["x-largeforge-fault"] == "request"
    assert response.json()["error"]["code"] == "request_failed"
    ok = httpx.post(f"{tiny_server.url}/chat/completions", json={**body, "seed": 1}, timeout=60)
    assert ok.status_code == 200


def test_a_prefill_that_fails_for_one_request_fails_only_that_request(
    tiny_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection in the forward pass of any batch holding the request seeded 666: the
    batched prefill is retried row by row and only that request fails."""
    forward = scheduler.BatchScheduler._forward

    def failing_forward(self: Any, rows: list[Any], *args: Any) -> torch.Tensor:
        if any(row.task.params.seed == 666 for row in rows):
            raise RuntimeError("injected forward fault")
        return forward(self, rows, *args)

    monkeypatch.setattr(scheduler.BatchScheduler, "_forward", failing_forward)
    gate = threading.Barrier(3)
    outcomes: dict[int, Any] = {}

    def run(index: int) -> None:
        params = SamplingParams(temperature=0.5, max_tokens=6, seed=666 if index == 0 else index)
        gate.wait()
        outcomes[index] = list(tiny_engine.stream_events("Hello there", params))[-1]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [outcomes[i].finish_reason for i in (1, 2)] == ["length", "length"], outcomes
    assert outcomes[0].finish_reason == "error" and "injected forward fault" in outcomes[0].error
