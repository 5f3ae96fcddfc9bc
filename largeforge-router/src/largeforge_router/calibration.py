"""How far a router's confidence can be trusted: expected calibration error, a reliability table
and the share of queries routed wrong with high confidence (``largeforge router eval``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Equal-width confidence bins of the reliability table and of the expected calibration error.
BINS = 10
#: "Sure of a mistake": a wrong answer routed with at least this confidence.
HIGH_CONFIDENCE = 0.9


def calibration_report(confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> dict[str, Any]:
    """Calibration of routed answers given each one's confidence and whether it was right.

    ``ece`` is the expected calibration error: the mean, weighted by the share of queries in each
    equal-width confidence bin, of ``|accuracy - mean confidence|`` in that bin (0 is perfect).
    ``wrong_confident`` is the share of all queries routed wrong with confidence ≥ 0.9, and
    ``reliability`` the per-bin table (empty bins left out).
    """
    n = len(confidences)
    if n != len(correct):
        raise ValueError("confidences and correct differ in length")
    table = []
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low <= c < high or (b == bins - 1 and c >= high)]
        if not members:
            continue
        accuracy = sum(bool(correct[i]) for i in members) / len(members)
        mean_confidence = sum(confidences[i] for i in members) / len(members)
        ece += len(members) / n * abs(accuracy - mean_confidence)
        table.append(
            {
                "bin": f"{low:.1f}-{high:.1f}",
                "queries": len(members),
                "accuracy": accuracy,
                "mean_confidence": mean_confidence,
            }
        )
    wrong_confident = sum(1 for c, ok in zip(confidences, correct, strict=True) if not ok and c >= HIGH_CONFIDENCE)
    return {
        "ece": ece,
        "wrong_confident": wrong_confident / n if n else 0.0,
        "wrong_confident_count": wrong_confident,
        "high_confidence": HIGH_CONFIDENCE,
        "reliability": table,
    }
