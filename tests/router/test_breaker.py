"""Circuit breaker state machine, driven by a controllable clock."""

from __future__ import annotations

import logging

from largeforge_router.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_cycle(caplog) -> None:
    clock = Clock()
    seen: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker(
        failure_threshold=3, reset_timeout=30, clock=clock, on_transition=lambda *t: seen.append(t)
    )
    url = "http://a"
    for _ in range(2):
        breaker.record_failure(url)
    assert breaker.get_state(url) == CLOSED and breaker.can_execute(url)
    with caplog.at_level(logging.INFO, logger="largeforge"):
        breaker.record_failure(url)
    assert breaker.get_state(url) == OPEN and not breaker.can_execute(url)
    assert any("closed -> open" in r.getMessage() for r in caplog.records)

    clock.now += 29
    assert breaker.get_state(url) == OPEN
    clock.now += 1
    assert breaker.get_state(url) == HALF_OPEN
    # Half-open lets exactly one trial through at a time.
    assert breaker.acquire(url) and not breaker.acquire(url)
    breaker.record_failure(url)
    assert breaker.get_state(url) == OPEN

    clock.now += 30
    assert breaker.acquire(url)
    breaker.record_success(url)
    assert breaker.get_state(url) == CLOSED
    assert [t[1:] for t in seen] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert [t["to"] for t in breaker.snapshot(url)["transitions"]] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_success_resets_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=Clock())
    breaker.record_failure("x")
    breaker.record_success("x")
    breaker.record_failure("x")
    assert breaker.get_state("x") == CLOSED


def test_probe_success_does_not_close_an_open_circuit_early() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=clock)
    breaker.record_failure("x")
    breaker.record_probe_success("x")
    assert breaker.get_state("x") == OPEN
    clock.now += 10
    breaker.record_probe_success("x")
    assert breaker.get_state("x") == CLOSED


def test_reset_and_release() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.record_failure("x")
    breaker.reset("x")
    assert breaker.get_state("x") == CLOSED
    breaker.record_failure("x")
    clock.now += 5
    assert breaker.acquire("x") and not breaker.acquire("x")
    breaker.release("x")  # trial ended without a verdict
    assert breaker.acquire("x")
