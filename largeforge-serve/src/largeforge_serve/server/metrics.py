"""Prometheus metrics of one server (its own registry, so several apps can share a process)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from largeforge_serve.engines.base import EngineStats

#: Label values for ``endpoint``: known routes, everything else is "other" (bounded cardinality).
ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def endpoint_label(path: str) -> str:
    if path in ENDPOINTS:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    return "other"


class ServerMetrics:
    """Requests, latency, tokens, and the engine's queue depth and running requests."""

    def __init__(self, engine_stats: Callable[[], EngineStats]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "largeforge_requests",
            "HTTP requests by endpoint and status code",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = self._seconds(
            "largeforge_request_latency_seconds",
            "Time from request to the end of the response",
            (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.tokens = Counter("largeforge_tokens_generated", "Completion tokens generated", registry=self.registry)
        self.prompt_tokens = Counter("largeforge_prompt_tokens", "Prompt tokens processed", registry=self.registry)
        self.first_token = self._seconds(
            "largeforge_time_to_first_token_seconds",
            "Time from request to the first streamed chunk",
            (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.inter_token = self._seconds(
            "largeforge_inter_token_latency_seconds",
            "Time between two generated tokens of a request",
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        queue = Gauge("largeforge_queue_depth", "Requests waiting for a batch slot", registry=self.registry)
        queue.set_function(lambda: engine_stats().queued)
        active = Gauge("largeforge_active_requests", "Requests being generated", registry=self.registry)
        active.set_function(lambda: engine_stats().active)

    def _seconds(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        """A histogram of durations by endpoint."""
        return Histogram(name, documentation, ["endpoint"], registry=self.registry, buckets=buckets)

    def observe(self, path: str, status: int, seconds: float) -> None:
        label = endpoint_label(path)
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)

    def observe_first_token(self, path: str, seconds: float) -> None:
        self.first_token.labels(endpoint_label(path)).observe(seconds)

    def clock(self, path: str, started: float) -> TokenClock:
        """A :class:`TokenClock` for one request to ``path`` that arrived at ``started``
        (``time.perf_counter()``)."""
        return TokenClock(self, endpoint_label(path), started)

    def count_tokens(self, prompt: int, completion: int) -> None:
        self.prompt_tokens.inc(prompt)
        self.tokens.inc(completion)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class TokenClock:
    """Times one request's tokens as its events arrive: time to first token (from the request's
    arrival), then the latency between tokens (an event carrying several tokens counts each at
    the average interval), as vLLM exposes them."""

    def __init__(self, metrics: ServerMetrics, label: str, started: float) -> None:
        self._ttft = metrics.first_token.labels(label)
        self._itl = metrics.inter_token.labels(label)
        self._last = started
        self._tokens = 0

    def tick(self, completion_tokens: int) -> None:
        """Record that the request has produced ``completion_tokens`` tokens so far."""
        new = completion_tokens - self._tokens
        if new <= 0:
            return
        now = time.perf_counter()
        interval = now - self._last
        if self._tokens == 0:
            self._ttft.observe(interval)
            new -= 1
            interval = 0.0
        for _ in range(new):
            self._itl.observe(interval / new if interval else 0.0)
        self._last, self._tokens = now, completion_tokens
