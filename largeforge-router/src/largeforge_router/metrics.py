"""Prometheus metrics of one router instance (its own registry, so several can coexist)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RouterMetrics:
    """Routing decisions, fallbacks, latencies, upstream failures and circuit states."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "largeforge_router_decisions",
            "Routing decisions by chosen expert",
            ["expert", "method"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "largeforge_router_fallbacks",
            "Requests sent to another expert than the classifier's pick",
            ["reason"],
            registry=self.registry,
        )
        self.classification_seconds = Histogram(
            "largeforge_router_classification_seconds",
            "Time to classify one query",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.request_seconds = Histogram(
            "largeforge_router_request_seconds",
            "Latency of forwarded requests, to the last byte (streams included, observed once each)",
            ["expert"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.first_chunk_seconds = Histogram(
            "largeforge_router_time_to_first_chunk_seconds",
            "Time from forwarding a streamed request to its first chunk",
            ["expert"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.requests = Counter(
            "largeforge_router_requests", "Forwarded requests by outcome", ["expert", "outcome"], registry=self.registry
        )
        self.upstream_failures = Counter(
            "largeforge_router_upstream_failures",
            "Failed attempts on one replica",
            ["expert", "endpoint"],
            registry=self.registry,
        )
        self.upstream_busy = Counter(
            "largeforge_router_upstream_busy",
            "Attempts a replica turned away as busy (429, 503 + Retry-After)",
            ["expert", "endpoint"],
            registry=self.registry,
        )
        self.circuit_state = Gauge(
            "largeforge_router_circuit_state",
            "Circuit per replica: 0 closed, 1 half-open, 2 open",
            ["endpoint"],
            registry=self.registry,
        )

    def set_circuit(self, endpoint: str, state: str) -> None:
        """Record the circuit state of ``endpoint``."""
        self.circuit_state.labels(endpoint=endpoint).set(CIRCUIT_VALUES[state])

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
