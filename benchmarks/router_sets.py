"""Shared by the router fine-tuning ablations: the labelled sets and the fixed head they score with.

Not a benchmark itself. The ablations isolate the encoder, so they fit one fixed head (logistic
regression, C = 10, balanced sample weights) instead of the router's own cross-validated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from largeforge_router.classifiers.factory import expert_texts
from largeforge_router.classifiers.head import balanced_weights
from largeforge_router.config import load_router_config, read_labelled

ROOT = Path(__file__).resolve().parents[1]
SETS = [ROOT / "examples" / name for name in ("router", "router_second", "router_third")]


@dataclass
class LabelledSet:
    """One set's texts in a fixed order: training queries, then the experts' descriptions and
    keywords (together the ``n_rows`` training rows), then the held-out queries."""

    texts: list[str]
    y: np.ndarray
    n_labels: int
    n_train: int  # training queries (the rows cross-validation may hold out)
    n_rows: int  # training rows


def load_set(folder: Path) -> LabelledSet:
    """``folder``'s router.yaml, train.jsonl and eval.jsonl as one :class:`LabelledSet`."""
    config = load_router_config(folder / "router.yaml")
    train, test = read_labelled(folder / "train.jsonl"), read_labelled(folder / "eval.jsonl")
    rows = train + [(t, name) for name, texts in expert_texts(config.experts).items() for t in texts]
    labels = sorted({e for _, e in rows})
    return LabelledSet(
        texts=[t for t, _ in rows] + [q for q, _ in test],
        y=np.array([labels.index(e) for _, e in rows + test]),
        n_labels=len(labels),
        n_train=len(train),
        n_rows=len(rows),
    )


def fixed_head_accuracy(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_labels: int) -> float:
    """Accuracy on rows ``test`` of the fixed head fitted on rows ``train``."""
    model = LogisticRegression(C=10.0, max_iter=1000)
    model.fit(x[train], y[train], sample_weight=balanced_weights(y[train], n_labels))
    return float((model.predict(x[test]) == y[test]).mean())
