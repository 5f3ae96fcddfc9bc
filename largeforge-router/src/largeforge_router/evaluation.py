"""Measure a classifier on labelled queries: accuracy, per-expert precision/recall, confusion
matrix, fallback rate and classification latency (``largeforge router eval``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from largeforge.config import RouterConfig
from largeforge.config.inference import AUTO_THRESHOLD_CEILING
from largeforge.contracts import Classifier
from largeforge_router.calibration import calibration_report
from largeforge_router.routing import decide

if TYPE_CHECKING:
    import numpy as np


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


#: Thresholds ``router eval`` sweeps (plus the config's own).
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))


def threshold_sweep(
    rows: list[tuple[str, str, float]], fallback: str, thresholds: tuple[float, ...] = THRESHOLDS
) -> dict[str, Any]:
    """Routed accuracy and fallback rate at each threshold, for ``(true, classified, confidence)``
    rows whose classified expert is known, and the recommended threshold: the highest one that
    reaches the best routed accuracy (as many unsure queries as possible go to the fallback
    expert, at no cost in accuracy on this data)."""
    n = len(rows) or 1
    sweep = []
    for t in sorted(set(thresholds)):
        routed = [(true, fallback if confidence < t else picked) for true, picked, confidence in rows]
        sweep.append(
            {
                "threshold": t,
                "accuracy": sum(a == b for a, b in routed) / n,
                "fallback_rate": sum(confidence < t for *_, confidence in rows) / n,
            }
        )
    best = max(s["accuracy"] for s in sweep) if sweep else 0.0
    recommended = max((s["threshold"] for s in sweep if s["accuracy"] == best), default=0.0)
    return {"sweep": sweep, "recommended": recommended}


def fit_threshold(
    labels: list[str],
    targets: np.ndarray,
    probabilities: np.ndarray,
    fallback: str,
    ceiling: float = AUTO_THRESHOLD_CEILING,
) -> float:
    """The threshold ``confidence_threshold: auto`` uses, from held-out predictions: the lowest
    one, up to ``ceiling`` (0.6), that reaches the best routed accuracy on them.

    With calibrated probabilities a fallback can only cost accuracy unless the pick was wrong and
    the fallback expert right, so the fallback fires only below the confidence where it rescued
    held-out queries (0 when it rescued none). ``targets`` are true label indices,
    ``probabilities`` the calibrated held-out probabilities (rows × labels, following ``labels``).
    """
    picks = probabilities.argmax(axis=1)
    rows = [
        (labels[t], labels[p], float(probabilities[i, p])) for i, (t, p) in enumerate(zip(targets, picks, strict=True))
    ]
    sweep = threshold_sweep(rows, fallback, (*(t for t in THRESHOLDS if t <= ceiling), ceiling))["sweep"]
    best = max(row["accuracy"] for row in sweep)
    return float(min(row["threshold"] for row in sweep if row["accuracy"] == best))


def evaluate(
    classifier: Classifier, config: RouterConfig, data: list[tuple[str, str]], experts: list[str]
) -> dict[str, Any]:
    """Route every query of ``data`` as the service would (threshold and fallback included).

    ``accuracy`` counts the expert a query finally reaches; ``classifier_accuracy`` the
    classifier's own pick before the confidence threshold, and ``calibration`` how well that
    pick's confidence predicts it is right (expected calibration error, reliability table, wrong
    picks at confidence ≥ 0.9).
    """
    known = set(experts)
    fallback = config.fallback_expert
    threshold = config.threshold_for(classifier)
    if data:
        classifier.classify(data[0][0])  # warm-up: first call pays for lazy loading
    latencies: list[float] = []
    second_opinion: list[bool] = []
    rows = []
    for query, label in data:
        start = time.perf_counter()
        result = classifier.classify(query)
        latencies.append((time.perf_counter() - start) * 1000)
        second_opinion.append(bool(result.details.get("second_opinion")))
        decision = decide(result, config, known, threshold=threshold)
        rows.append(
            (label, decision.expert, result.expert, decision.fallback_reason, result.method, query, result.confidence)
        )
    n = len(rows) or 1
    labels = sorted(known | {r[0] for r in rows} | {r[1] for r in rows})
    confusion = {t: dict.fromkeys(labels, 0) for t in labels}
    for true, pred, *_ in rows:
        confusion[true][pred] += 1
    per_expert = {}
    for name in labels:
        tp = confusion[name][name]
        predicted = sum(confusion[t][name] for t in labels)
        actual = sum(confusion[name].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_expert[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    methods: dict[str, int] = {}
    for row in rows:
        methods[row[4]] = methods.get(row[4], 0) + 1
    return {
        "examples": len(rows),
        "confidence_threshold": threshold,
        "accuracy": sum(t == p for t, p, *_ in rows) / n,
        "classifier_accuracy": sum(t == c for t, _, c, *_ in rows) / n,
        "fallback_rate": sum(r[3] is not None for r in rows) / n,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "mean": sum(latencies) / len(latencies) if latencies else 0.0,
        },
        "decided_by": methods,
        "second_opinion": {
            "rate": sum(second_opinion) / n,
            "fast_p50_ms": percentile([t for t, asked in zip(latencies, second_opinion, strict=True) if not asked], 50),
            "cascade_p50_ms": percentile([t for t, asked in zip(latencies, second_opinion, strict=True) if asked], 50),
        },
        "calibration": calibration_report([r[6] for r in rows], [r[0] == r[2] for r in rows]),
        "per_expert": per_expert,
        "confusion": confusion,
        "thresholds": threshold_sweep(
            [(r[0], r[2] if r[2] in known else fallback, r[6] if r[2] in known else -1.0) for r in rows],
            fallback,
            (*THRESHOLDS, threshold),
        ),
        "errors": [
            {"query": r[5], "expert": r[0], "routed": r[1], "classified": r[2], "confidence": round(r[6], 4)}
            for r in rows
            if r[0] != r[1]
        ],
    }
