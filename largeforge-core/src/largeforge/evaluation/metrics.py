"""Built-in task metrics: each scores one generated answer against its reference in [0, 1].

``exact_match`` and ``contains`` compare after trimming, collapsing whitespace and case-folding;
``rouge_l`` is the ROUGE-L F-measure of Google's ``rouge-score`` (the implementation Hugging Face
``evaluate`` wraps), with its default tokenizer and Porter stemming.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any


def normalize(text: str) -> str:
    """Trim, collapse whitespace runs to one space, case-fold."""
    return " ".join(text.split()).casefold()


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the answer equals the reference (after :func:`normalize`), else 0.0."""
    return float(normalize(prediction) == normalize(reference))


def contains(prediction: str, reference: str) -> float:
    """1.0 when the reference appears within the answer (after :func:`normalize`), else 0.0."""
    return float(normalize(reference) in normalize(prediction))


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of words) of the answer and the reference."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


BUILTIN_METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "contains": contains,
    "rouge_l": rouge_l,
}
