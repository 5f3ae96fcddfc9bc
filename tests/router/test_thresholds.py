"""``confidence_threshold: auto``: the threshold fitted on held-out predictions, and how the
router, ``router eval`` and ``decide`` apply it."""

from __future__ import annotations

import numpy as np
import pytest

from largeforge.config import RouterConfig
from largeforge.contracts import ClassificationResult
from largeforge_router.evaluation import fit_threshold
from largeforge_router.routing import decide

LABELS = ["code", "general", "math"]


def _probabilities(rows: list[tuple[int, float]]) -> np.ndarray:
    """One row per (picked label, its probability); the rest shared by the other labels."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, (pick, p) in enumerate(rows):
        out[i] = (1 - p) / (len(LABELS) - 1)
        out[i, pick] = p
    return out


def test_auto_lowers_the_threshold_below_right_but_unsure_picks() -> None:
    # Right picks at 0.55 and 0.58: a fallback at 0.6 would send both to "general", wrongly.
    targets = np.array([0, 2, 0, 2])
    probabilities = _probabilities([(0, 0.55), (2, 0.58), (0, 0.9), (2, 0.95)])
    assert fit_threshold(LABELS, targets, probabilities, "general") == 0.0  # no fallback rescued anything


def test_auto_falls_back_where_the_fallback_was_right() -> None:
    # Unsure picks that were wrong, on queries the fallback expert should have had: the lowest
    # threshold that sends both (0.4 and 0.5) to it, not one above a right pick at 0.7.
    targets = np.array([1, 1, 0, 2])
    probabilities = _probabilities([(0, 0.4), (2, 0.5), (0, 0.7), (2, 0.95)])
    assert fit_threshold(LABELS, targets, probabilities, "general") == pytest.approx(0.55)


def test_auto_never_exceeds_the_ceiling() -> None:
    # Wrong picks at 0.5 and 0.8: 0.85 would catch both, the ceiling 0.6 only the first.
    targets = np.array([1, 1, 0])
    probabilities = _probabilities([(0, 0.5), (0, 0.8), (0, 0.95)])
    assert fit_threshold(LABELS, targets, probabilities, "general") == pytest.approx(0.55)


class _Fitted:
    """A classifier that fitted the threshold 0.3 and is 40% sure of "code"."""

    fitted_threshold = 0.3

    def classify(self, query: str) -> ClassificationResult:
        return ClassificationResult(
            expert="code", confidence=0.4, scores={"code": 0.4, "general": 0.35}, method="neural"
        )


def test_threshold_in_force() -> None:
    auto = RouterConfig()
    assert auto.confidence_threshold == "auto"
    assert auto.threshold_for(_Fitted()) == 0.3
    assert auto.threshold_for(object()) == 0.6  # a classifier that fitted nothing
    assert RouterConfig(confidence_threshold=0.45).threshold_for(_Fitted()) == 0.45
    result = ClassificationResult(expert="code", confidence=0.4, scores={"code": 0.4}, method="neural")
    assert decide(result, auto, {"code", "general"}).expert == "general"  # no classifier: 0.6
    routed = decide(result, auto, {"code", "general"}, threshold=auto.threshold_for(_Fitted()))
    assert routed.expert == "code" and routed.fallback_reason is None


def test_auto_and_numbers_load_from_yaml_and_nothing_else() -> None:
    assert RouterConfig.from_dict({"confidence_threshold": "auto"}).confidence_threshold == "auto"
    assert RouterConfig.from_dict({"confidence_threshold": 0}).threshold_for() == 0.0
    from largeforge.errors import ConfigError

    for bad in ("high", 1.5):
        with pytest.raises(ConfigError, match="confidence_threshold"):
            RouterConfig.from_dict({"confidence_threshold": bad})


def test_the_router_routes_by_the_threshold_in_force() -> None:
    from largeforge.config import ExpertConfig
    from largeforge_router.router import Router

    experts = [
        ExpertConfig(name=name, endpoints=[f"http://127.0.0.1:{port}"]) for name, port in (("code", 9), ("general", 10))
    ]
    auto = Router(RouterConfig(fallback_expert="general"), experts, classifier=_Fitted())
    decision = auto.route("anything")
    assert (decision.expert, decision.fallback_reason) == ("code", None)  # 0.4 ≥ the fitted 0.3
    fixed = Router(RouterConfig(fallback_expert="general", confidence_threshold=0.6), experts, classifier=_Fitted())
    decision = fixed.route("anything")
    assert (decision.expert, decision.fallback_reason) == ("general", "low_confidence")
