"""Accuracy, per-label precision/recall/F1 and the confusion matrix of labelled predictions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def classification_report(pairs: Sequence[tuple[str, str]], labels: Iterable[str] = ()) -> dict[str, Any]:
    """``pairs`` of (true label, predicted label) → ``accuracy``, ``per_label`` and ``confusion``
    (``confusion[true][predicted]`` counts; every label of ``labels`` appears, seen or not)."""
    names = list(dict.fromkeys([*labels, *(t for t, _ in pairs), *(p for _, p in pairs)]))
    confusion = {t: dict.fromkeys(names, 0) for t in names}
    for true, pick in pairs:
        confusion[true][pick] += 1
    per_label = {}
    for name in names:
        hit = confusion[name][name]
        predicted = sum(row[name] for row in confusion.values())
        actual = sum(confusion[name].values())
        precision = hit / predicted if predicted else 0.0
        recall = hit / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    accuracy = sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0
    return {
        "examples": len(pairs),
        "accuracy": accuracy,
        "labels": names,
        "per_label": per_label,
        "confusion": confusion,
    }
