"""Load balancing strategies and statistics."""

from __future__ import annotations

import collections

import pytest

from largeforge_router.balancer import LoadBalancer, NoInstanceError

URLS = ["http://a", "http://b", "http://c"]


def test_round_robin_rotates_per_expert() -> None:
    lb = LoadBalancer("round_robin")
    assert [lb.select_instance("e", URLS) for _ in range(6)] == URLS * 2
    assert lb.select_instance("other", URLS) == "http://a"


def test_least_connections_prefers_idle_replicas() -> None:
    lb = LoadBalancer("least_connections")
    lb.begin("http://a")
    lb.begin("http://b")
    assert lb.select_instance("e", URLS) == "http://c"
    lb.begin("http://c")
    lb.begin("http://c")
    lb.end("http://a")
    assert lb.select_instance("e", URLS) == "http://a"


def test_weighted_follows_capacity() -> None:
    lb = LoadBalancer("weighted", weights={"http://a": 3, "http://b": 1})
    picks = collections.Counter(lb.select_instance("e", URLS[:2]) for _ in range(400))
    assert picks == {"http://a": 300, "http://b": 100}
    # Smooth: the heavy replica is never picked four times in a row.
    seq = [lb.select_instance("e", URLS[:2]) for _ in range(8)]
    assert "http://b" in seq[:4] and "http://b" in seq[4:]


def test_latency_aware_measures_then_prefers_fastest() -> None:
    lb = LoadBalancer("latency_aware")
    first = lb.select_instance("e", URLS)
    lb.report_success(first, 50.0)
    second = lb.select_instance("e", URLS)
    assert second != first  # untried replicas are measured first
    lb.report_success(second, 5.0)
    third = lb.select_instance("e", URLS)
    lb.report_success(third, 20.0)
    assert lb.select_instance("e", URLS) == second


def test_stats_and_order() -> None:
    lb = LoadBalancer("round_robin")
    lb.report_success("http://a", 10.0)
    lb.report_failure("http://a")
    stats = lb.get_stats()["instances"]["http://a"]
    assert stats["requests"] == 2 and stats["failures"] == 1 and stats["error_rate"] == 0.5
    assert stats["avg_latency_ms"] == 10.0
    order = lb.order("e", URLS)
    assert sorted(order) == sorted(URLS) and len(order) == 3


def test_empty_and_unknown_strategy() -> None:
    with pytest.raises(NoInstanceError, match="no available endpoint"):
        LoadBalancer().select_instance("e", [])
    assert LoadBalancer().order("e", []) == []
    with pytest.raises(ValueError, match="least_connections"):
        LoadBalancer("random")
