"""A second opinion for the queries the fast path is unsure of (a cascade).

The fast path is the fine-tuned MiniLM head. When its calibrated confidence is below
:data:`CASCADE_BELOW`, or the query is one MiniLM's English vocabulary reads poorly
(:func:`unreadable`), a second head over frozen multilingual-e5-small embeddings
(:mod:`largeforge_router.classifiers.multilingual`) is asked too, and the two are combined as a
geometric mean of their calibrated probabilities::

    z = (log p_fast(k | q) + log p_e5(k | q)) / 2,   p(k | q) = softmax(z / temperature)

Two encoders trained differently disagree where a query is outside what the fast one learnt (another
language, another domain's words), so the combined confidence drops where the fast path alone would
have been sure of a mistake. Both heads and the combined temperature are fitted on the same
held-out cross-validation folds, never on evaluation data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from largeforge.utils.io import atomic_write
from largeforge_router.classifiers import multilingual
from largeforge_router.classifiers.head import (
    LinearHead,
    Validation,
    fit_head,
    fit_temperature,
    head_arrays,
    head_from_arrays,
    softmax,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The fast path's calibrated confidence below which the second opinion is asked. Chosen on the
#: three older bundled sets (session 17): the smallest trigger with the fewest wrong answers at
#: confidence ≥ 0.9 there (0.9: 1 / 3 / 2 of 126 / 128 / 120 queries; 0.95: 1 / 1 / 1), same accuracy.
CASCADE_BELOW = 0.95
#: The second opinion is also asked when at least this share of the query's word pieces are
#: continuations ("##…") in the fast encoder's English vocabulary: a query it reads poorly
#: (another language, typos, rare words) even if its head is sure. Just above the 95th percentile
#: over the English queries of the bundled labelled sets (0.22; their median is 0).
UNREADABLE_PIECES = 0.25
#: Weight of the second head in the combination (the fast head has ``1 - SECOND_WEIGHT``).
SECOND_WEIGHT = 0.5
HEAD_FILE = "second_opinion.npz"
META_FILE = "second_opinion.json"


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def out_of_fold_log_probs(validation: Validation, temperature: float, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each held-out row's calibrated log-probabilities averaged over the repeats that held it
    out: ``(rows, log_probs)`` with the rows sorted."""
    log_p = log_softmax(validation.scores / temperature)
    sums = np.zeros((n_rows, log_p.shape[1]))
    counts = np.zeros(n_rows)
    np.add.at(sums, validation.rows, log_p)
    np.add.at(counts, validation.rows, 1)
    rows = np.flatnonzero(counts)
    return rows, sums[rows] / counts[rows, None]


class SecondOpinion:
    """The e5 head and the temperature of its combination with the fast head."""

    def __init__(
        self,
        head: LinearHead,
        temperature: float,
        below: float = CASCADE_BELOW,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.head = head
        self.temperature = temperature
        self.below = below
        #: out-of-fold log-probabilities of the e5 head: ``(training rows, log_probs)``
        self.validation = validation

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        y: np.ndarray,
        labels: Sequence[str],
        *,
        queries: np.ndarray,
        fast: LinearHead,
        seed: int = 0,
    ) -> SecondOpinion:
        """Fit the e5 head on the fast head's training rows and the combined temperature on the
        held-out folds both heads share (1 when there are none)."""
        x = multilingual.embed(list(texts))
        head = fit_head(x, y, labels, queries=queries, seed=seed)
        temperature, validation = 1.0, None
        if fast.validation is not None and head.validation is not None:
            fast_rows, fast_lp = out_of_fold_log_probs(fast.validation, fast.temperature, len(y))
            validation = out_of_fold_log_probs(head.validation, head.temperature, len(y))
            both, in_fast, in_second = np.intersect1d(fast_rows, validation[0], return_indices=True)
            z = combine(fast_lp[in_fast], validation[1][in_second])
            temperature = fit_temperature(z, y[both])
        return cls(head, temperature, validation=validation)

    def log_probs(self, query: str) -> np.ndarray:
        """The e5 head's calibrated log-probabilities for ``query`` (following the labels)."""
        z = self.head.scores(multilingual.embed([query]))[0]
        return log_softmax(z / self.head.temperature)

    def combined_log_probs(self, fast_log_probs: np.ndarray, query: str) -> np.ndarray:
        """The combined, calibrated log-probabilities given the fast head's log-probabilities."""
        return log_softmax(combine(fast_log_probs, self.log_probs(query)) / self.temperature)

    def asks(self, fast_probabilities: np.ndarray, unreadable_query: bool) -> bool:
        """Whether the cascade asks this second opinion, given the fast head's probabilities."""
        return unreadable_query or float(fast_probabilities.max()) < self.below

    def cascade_validation(self, fast: Validation, fast_temperature: float, unreadable_rows: np.ndarray) -> np.ndarray:
        """The fast head's out-of-fold calibrated probabilities with the cascade applied: where it
        would have been asked for a held-out query (``unreadable_rows``: per validation row), the
        combination's probabilities instead."""
        probabilities = softmax(fast.scores.astype(np.float64) / fast_temperature)
        if self.validation is None:
            return probabilities
        position = {int(row): i for i, row in enumerate(self.validation[0])}
        for i, row in enumerate(fast.rows):
            if self.asks(probabilities[i], bool(unreadable_rows[i])) and int(row) in position:
                fast_lp = np.log(np.maximum(probabilities[i], 1e-300))
                combined = combine(fast_lp, self.validation[1][position[int(row)]])
                probabilities[i] = softmax(combined / self.temperature)
        return probabilities

    def save(self, path: Path) -> None:
        """Write the head and the combination's settings into the directory ``path``."""
        head = self.head
        arrays: dict[str, Any] = head_arrays(head)
        if self.validation is not None:
            arrays.update(validation_rows=self.validation[0], validation_log_probs=self.validation[1])
        with open(path / HEAD_FILE, "wb") as f:
            np.savez(f, **arrays)
        meta = {
            "encoder": multilingual.NAME,
            "labels": head.labels,
            "nearest_weight": head.nearest_weight,
            "head_temperature": head.temperature,
            "c": head.c,
            "temperature": self.temperature,
            "below": self.below,
        }
        atomic_write(path / META_FILE, json.dumps(meta, indent=2) + "\n")

    @staticmethod
    def remove(path: Path) -> None:
        """Delete a second opinion saved in ``path``, if any."""
        for name in (HEAD_FILE, META_FILE):
            (path / name).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> SecondOpinion | None:
        """The second opinion saved in ``path``, or ``None`` when there is none."""
        if not (path / META_FILE).is_file():
            return None
        meta = json.loads((path / META_FILE).read_text())
        with np.load(path / HEAD_FILE) as arrays:
            head = head_from_arrays(
                arrays,
                meta["labels"],
                nearest_weight=meta["nearest_weight"],
                temperature=meta["head_temperature"],
                c=meta["c"],
            )
            validation = (
                (arrays["validation_rows"], arrays["validation_log_probs"]) if "validation_rows" in arrays else None
            )
        return cls(head, float(meta["temperature"]), float(meta["below"]), validation)


def unreadable(tokenizer: Any, query: str) -> bool:
    """Whether ``tokenizer`` (the fast encoder's WordPiece) splits at least
    :data:`UNREADABLE_PIECES` of ``query`` into continuation pieces."""
    pieces = tokenizer.tokenize(query)
    return bool(pieces) and sum(piece.startswith("##") for piece in pieces) / len(pieces) >= UNREADABLE_PIECES


def combine(fast_log_probs: np.ndarray, second_log_probs: np.ndarray) -> np.ndarray:
    """The uncalibrated combined scores: a weighted mean of both heads' log-probabilities."""
    return (1 - SECOND_WEIGHT) * fast_log_probs + SECOND_WEIGHT * second_log_probs
