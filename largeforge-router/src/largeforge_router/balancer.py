"""Load balancing across an expert's replicas.

Strategies: ``round_robin`` (rotate), ``least_connections`` (fewest requests in flight),
``weighted`` (smooth weighted round robin, as nginx does, by per-replica capacity) and
``latency_aware`` (lowest moving-average latency, untried replicas first).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("round_robin", "least_connections", "weighted", "latency_aware")
EWMA_ALPHA = 0.3  # weight of the newest latency sample


@dataclass
class InstanceStats:
    """What the balancer knows about one replica."""

    active: int = 0
    requests: int = 0
    failures: int = 0
    avg_latency_ms: float | None = None
    current_weight: float = 0.0  # smooth weighted round robin state

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


class NoInstanceError(LookupError):
    """There is no replica to choose from."""


class LoadBalancer:
    """Pick one replica for a request and keep per-replica statistics; thread-safe."""

    def __init__(self, strategy: str = "round_robin", weights: dict[str, float] | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown load balancing strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.weights = dict(weights or {})
        self._lock = threading.Lock()
        self._stats: dict[str, InstanceStats] = {}
        self._cursor: dict[str, int] = {}

    def _s(self, instance: str) -> InstanceStats:
        stats = self._stats.get(instance)
        if stats is None:
            stats = self._stats[instance] = InstanceStats()
        return stats

    def select_instance(self, expert: str, instances: list[str]) -> str:
        """Choose a replica of ``expert`` among ``instances``; :class:`NoInstanceError` if empty."""
        if not instances:
            raise NoInstanceError(f"expert {expert!r} has no available endpoint")
        with self._lock:
            if len(instances) == 1:
                return instances[0]
            if self.strategy == "least_connections":
                return min(instances, key=lambda i: (self._s(i).active, self._s(i).requests))
            if self.strategy == "latency_aware":
                # Untried replicas (no latency yet) go first so every replica gets measured.
                return min(
                    instances,
                    key=lambda i: (
                        self._s(i).avg_latency_ms is not None,
                        self._s(i).avg_latency_ms or 0.0,
                        self._s(i).active,
                    ),
                )
            if self.strategy == "weighted":
                total = 0.0
                for i in instances:
                    w = self.weights.get(i, 1.0)
                    self._s(i).current_weight += w
                    total += w
                chosen = max(instances, key=lambda i: self._s(i).current_weight)
                self._s(chosen).current_weight -= total
                return chosen
            cursor = self._cursor.get(expert, 0)
            self._cursor[expert] = cursor + 1
            return instances[cursor % len(instances)]

    def order(self, expert: str, instances: list[str]) -> list[str]:
        """Every replica, the selected one first: the order in which to try them."""
        if not instances:
            return []
        first = self.select_instance(expert, instances)
        return [first, *(i for i in instances if i != first)]

    def begin(self, instance: str) -> None:
        """A request to ``instance`` started (counts toward its active connections)."""
        with self._lock:
            self._s(instance).active += 1

    def end(self, instance: str) -> None:
        """A request started with :meth:`begin` finished, whatever its outcome."""
        with self._lock:
            stats = self._s(instance)
            stats.active = max(0, stats.active - 1)

    def report_success(self, instance: str, latency: float) -> None:
        """A request to ``instance`` succeeded in ``latency`` milliseconds."""
        with self._lock:
            stats = self._s(instance)
            stats.requests += 1
            stats.avg_latency_ms = (
                latency
                if stats.avg_latency_ms is None
                else EWMA_ALPHA * latency + (1 - EWMA_ALPHA) * stats.avg_latency_ms
            )

    def report_failure(self, instance: str) -> None:
        """A request to ``instance`` failed."""
        with self._lock:
            stats = self._s(instance)
            stats.requests += 1
            stats.failures += 1

    def forget(self, instance: str) -> None:
        """Drop the statistics of a removed replica."""
        with self._lock:
            self._stats.pop(instance, None)

    def get_stats(self) -> dict[str, Any]:
        """Per replica: active connections, requests, failures, error rate, average latency."""
        with self._lock:
            return {
                "strategy": self.strategy,
                "instances": {
                    i: {
                        "active_connections": s.active,
                        "requests": s.requests,
                        "failures": s.failures,
                        "error_rate": round(s.error_rate, 4),
                        "avg_latency_ms": None if s.avg_latency_ms is None else round(s.avg_latency_ms, 3),
                        "weight": self.weights.get(i, 1.0),
                    }
                    for i, s in self._stats.items()
                },
            }
