"""Circuit breaker: stop sending traffic to a replica that keeps failing.

CLOSED → OPEN after ``failure_threshold`` consecutive failures; OPEN → HALF_OPEN once
``reset_timeout`` seconds have passed (one trial request at a time is let through);
HALF_OPEN → CLOSED on a success, back to OPEN on a failure. Every transition is logged and
kept in a short history that ``GET /experts`` shows. The caller decides what a failure is: the
router records only the endpoint's own faults (see ``largeforge_router.outcomes``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from largeforge.utils.logging import get_logger

logger = get_logger("largeforge.router.breaker")  # under the largeforge logger tree

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class _Circuit:
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_in_flight: bool = False
    transitions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10))


class CircuitBreaker:
    """One circuit per name (the router uses endpoint URLs); thread-safe."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 60,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def _circuit(self, name: str) -> _Circuit:
        circuit = self._circuits.get(name)
        if circuit is None:
            circuit = self._circuits[name] = _Circuit()
        return circuit

    def _move(self, name: str, circuit: _Circuit, state: str, reason: str) -> None:
        old, circuit.state = circuit.state, state
        if state == OPEN:
            circuit.opened_at = self._clock()
        circuit.transitions.append({"from": old, "to": state, "reason": reason, "at": time.time()})
        log = logger.warning if state == OPEN else logger.info
        log(
            "circuit %s: %s -> %s (%s)",
            name,
            old,
            state,
            reason,
            extra={"circuit": name, "from_state": old, "to_state": state},
        )
        if self._on_transition is not None:
            self._on_transition(name, old, state)

    def _refresh(self, name: str, circuit: _Circuit) -> None:
        if circuit.state == OPEN and self._clock() - circuit.opened_at >= self.reset_timeout:
            self._move(name, circuit, HALF_OPEN, f"{self.reset_timeout:g}s reset timeout elapsed")

    def can_execute(self, name: str) -> bool:
        """Whether a request may go to ``name`` now, without reserving the half-open trial."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            return circuit.state == CLOSED or (circuit.state == HALF_OPEN and not circuit.trial_in_flight)

    def acquire(self, name: str) -> bool:
        """Like :meth:`can_execute`, and in HALF_OPEN reserve the single trial request."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            if circuit.state == CLOSED:
                return True
            if circuit.state == HALF_OPEN and not circuit.trial_in_flight:
                circuit.trial_in_flight = True
                return True
            return False

    def record_success(self, name: str) -> None:
        """A request (or probe) to ``name`` succeeded."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            circuit.failures = 0
            circuit.trial_in_flight = False
            if circuit.state != CLOSED:
                self._move(name, circuit, CLOSED, "request succeeded")

    def record_probe_success(self, name: str) -> None:
        """A health probe of ``name`` succeeded: closes a half-open circuit, never an open one.

        An open circuit waits out its timeout even if ``/health`` answers, so a replica that
        answers probes but fails real requests cannot flap between open and closed.
        """
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            if circuit.state == OPEN:
                return
        self.record_success(name)

    def record_failure(self, name: str, reason: str = "request failed") -> None:
        """A request (or probe) to ``name`` failed."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            circuit.failures += 1
            circuit.trial_in_flight = False
            if circuit.state == HALF_OPEN:
                self._move(name, circuit, OPEN, f"trial failed: {reason}")
            elif circuit.state == CLOSED and circuit.failures >= self.failure_threshold:
                self._move(name, circuit, OPEN, f"{circuit.failures} consecutive failures: {reason}")

    def release(self, name: str) -> None:
        """Give back a half-open trial that ended without a verdict (e.g. client went away)."""
        with self._lock:
            self._circuit(name).trial_in_flight = False

    def retry_in(self, names: list[str]) -> float:
        """Seconds until one of ``names`` lets a request through (0 if one does now)."""
        with self._lock:
            waits = []
            for name in names:
                circuit = self._circuit(name)
                self._refresh(name, circuit)
                if circuit.state != OPEN:
                    return 0.0
                waits.append(self.reset_timeout - (self._clock() - circuit.opened_at))
            return max(0.0, min(waits, default=0.0))

    def get_state(self, name: str) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            return circuit.state

    def reset(self, name: str) -> None:
        """Close the circuit of ``name`` and forget its failures."""
        with self._lock:
            circuit = self._circuit(name)
            circuit.failures = 0
            circuit.trial_in_flight = False
            if circuit.state != CLOSED:
                self._move(name, circuit, CLOSED, "reset")

    def forget(self, name: str) -> None:
        """Drop every record of ``name`` (its replica was removed)."""
        with self._lock:
            self._circuits.pop(name, None)

    def snapshot(self, name: str) -> dict[str, Any]:
        """State, consecutive failures and recent transitions of ``name``."""
        with self._lock:
            circuit = self._circuit(name)
            self._refresh(name, circuit)
            return {
                "state": circuit.state,
                "consecutive_failures": circuit.failures,
                "transitions": list(circuit.transitions),
            }
