"""Turning a classification into a routing decision (threshold and fallback), shared by the
service and ``largeforge router eval`` so both decide identically."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from largeforge.config import RouterConfig
from largeforge.contracts import ClassificationResult

LOW_CONFIDENCE = "low_confidence"
UNKNOWN_EXPERT = "unknown_expert"
UNAVAILABLE = "unavailable"


@dataclass
class RoutingDecision:
    """Where a query goes and why."""

    expert: str
    confidence: float
    alternatives: list[tuple[str, float]]
    routing_time_ms: float
    method: str = ""
    #: the classifier's own pick (differs from ``expert`` when the router fell back)
    classified_expert: str = ""
    #: ``None``, or why the fallback expert was chosen: low_confidence, unknown_expert, unavailable
    fallback_reason: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``POST /route``)."""
        return {
            "expert": self.expert,
            "confidence": round(self.confidence, 6),
            "method": self.method,
            "classified_expert": self.classified_expert,
            "fallback": self.fallback_reason is not None,
            "fallback_reason": self.fallback_reason,
            "alternatives": [{"expert": e, "score": round(s, 6)} for e, s in self.alternatives],
            "scores": {e: round(s, 6) for e, s in self.scores.items()},
            "routing_time_ms": round(self.routing_time_ms, 3),
        }


def decide(
    result: ClassificationResult,
    config: RouterConfig,
    known: set[str] | None = None,
    routing_time_ms: float = 0.0,
    *,
    threshold: float | None = None,
) -> RoutingDecision:
    """Apply the confidence threshold and ``fallback_expert`` to a classification.

    ``known`` is the set of experts that may be chosen (an unknown pick falls back too);
    ``threshold`` is the one in force (``config.threshold_for(classifier)``; by default the
    config's number, or 0.6 for ``auto`` with no classifier to ask).
    """
    if threshold is None:
        threshold = config.threshold_for(None)
    reason = None
    if known is not None and result.expert not in known:
        reason = UNKNOWN_EXPERT
    elif result.confidence < threshold:
        reason = LOW_CONFIDENCE
    ranked = sorted(result.scores.items(), key=lambda kv: kv[1], reverse=True)
    return RoutingDecision(
        expert=config.fallback_expert if reason else result.expert,
        confidence=result.confidence,
        alternatives=[(e, s) for e, s in ranked if e != result.expert][:3],
        routing_time_ms=routing_time_ms,
        method=result.method,
        classified_expert=result.expert,
        fallback_reason=reason,
        scores=dict(result.scores),
    )
