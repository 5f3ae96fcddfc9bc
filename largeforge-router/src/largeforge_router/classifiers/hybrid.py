"""Hybrid classifier (fitted from data): keywords add evidence where they fire.

The neural half's raw scores ``z`` get ``strength · keyword_share`` added for every expert
whose keywords the query mentions; the result is calibrated by its own temperature. Both the
strength and the temperature are fitted on the neural head's held-out cross-validation folds,
so keywords count exactly as much as they helped there (the smallest strength with the best
held-out accuracy: nothing when they changed no held-out answer). A confident neural answer (calibrated
confidence ≥ 0.9) is never changed by keywords, and a query with no keyword is the neural
answer as is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from largeforge.contracts import ClassificationResult
from largeforge.utils.logging import get_logger
from largeforge_router.classifiers.head import fit_temperature, log_loss, softmax
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.evaluation import fit_threshold

logger = get_logger("largeforge.router.hybrid")  # under the largeforge logger tree

CONFIDENT_NEURAL = 0.9  # a neural answer this sure is kept whatever the keywords say
STRENGTH_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
#: With no held-out folds to fit on, strength = PRIOR_SCALE · keyword_weight / neural_weight.
PRIOR_SCALE = 4.0
MIN_FIT_ROWS = 30  # fewer held-out queries with keywords than this: keep the neural temperature


@dataclass(frozen=True)
class KeywordFit:
    """How keyword evidence joins the neural scores: ``z + strength · share``, then ``/ temperature``."""

    strength: float
    temperature: float
    #: ``"cross-validation"`` or ``"prior"`` (keyword_weight / neural_weight, nothing to fit on)
    source: str
    #: held-out queries in which a keyword fired
    rows: int = 0
    #: the confidence threshold fitted on the combined held-out predictions (``None``: no folds)
    threshold: float | None = None


class HybridClassifier:
    """Combine a :class:`KeywordClassifier` and a :class:`NeuralClassifier`.

    * neural half untrained → the keyword result (``method="keyword"``);
    * no keyword matched, or the neural half is confident (≥ 0.9) → the neural result
      (``method="neural"``);
    * the keyword pick is an expert the neural half does not know (added at run time) → the
      keyword result;
    * otherwise neural scores plus fitted keyword evidence (``method="hybrid"``).

    When keywords and the neural half pick different experts the disagreement is logged.
    ``details`` carries both halves' results and the keyword fit.
    """

    def __init__(
        self,
        keyword_config: dict[str, list[str]],
        neural_model: str | None = None,
        keyword_weight: float = 0.3,
        neural_weight: float = 0.7,
        *,
        fallback_expert: str = "general",
        neural: NeuralClassifier | None = None,
    ) -> None:
        self.keyword_weight = keyword_weight
        self.neural_weight = neural_weight
        self.fallback_expert = fallback_expert
        self._keyword = KeywordClassifier(keyword_config, fallback_expert=fallback_expert)
        self._neural = neural or NeuralClassifier(
            neural_model, experts=list(keyword_config), fallback_expert=fallback_expert
        )
        self._lock = threading.Lock()
        self._fit: tuple[object, KeywordFit] | None = None

    @property
    def keyword_classifier(self) -> KeywordClassifier:
        """The keyword half."""
        return self._keyword

    @property
    def neural_classifier(self) -> NeuralClassifier:
        """The neural half."""
        return self._neural

    @property
    def prior_strength(self) -> float:
        """Keyword strength implied by ``keyword_weight`` and ``neural_weight``."""
        return PRIOR_SCALE * self.keyword_weight / max(self.neural_weight, 1e-6)

    def keyword_fit(self) -> KeywordFit:
        """The keyword strength and temperature for the current neural head (fitted once per head)."""
        head = self._neural.head
        with self._lock:
            if self._fit is None or self._fit[0] is not head:
                self._fit = (head, self._fit_keywords())
            return self._fit[1]

    def _fit_keywords(self) -> KeywordFit:
        head = self._neural.head
        prior = self.prior_strength
        temperature = head.temperature if head else 1.0
        if head is None or head.validation is None or not self._neural.validation_queries:
            return KeywordFit(prior, temperature, "prior")
        z, targets = self._neural.validation_scores(), head.validation.targets
        shares = np.stack([self._shares(q) for q in self._neural.validation_queries])
        unsure = (softmax(z / temperature).max(axis=1) < CONFIDENT_NEURAL) & (shares.sum(axis=1) > 0)
        # Keyword evidence must earn its weight: the smallest strength with the best held-out
        # accuracy (0 when keywords changed no held-out answer, as when the fine-tuned encoder
        # already learnt them as examples), so keywords never override the neural half on faith.
        best: tuple[float, float] | None = None
        chosen = 0.0
        for strength in STRENGTH_GRID:
            combined = np.where(unsure[:, None], z + strength * shares, z)
            key = (float((combined.argmax(1) == targets).mean()), -strength)
            if best is None or key > best:
                best, chosen = key, strength
        fitted = z[unsure] + chosen * shares[unsure]
        if int(unsure.sum()) >= MIN_FIT_ROWS and chosen:
            t = fit_temperature(fitted, targets[unsure])
            if log_loss(fitted / t, targets[unsure]) < log_loss(fitted / temperature, targets[unsure]):
                temperature = t
        probabilities = softmax(z / head.temperature)
        probabilities[unsure] = softmax(fitted / temperature)
        threshold = fit_threshold(head.labels, targets, probabilities, self.fallback_expert)
        return KeywordFit(chosen, temperature, "cross-validation", int(unsure.sum()), threshold)

    @property
    def fitted_threshold(self) -> float | None:
        """The confidence threshold fitted on the held-out folds with keyword evidence as
        :meth:`classify` adds it (``confidence_threshold: auto``); ``None`` without folds."""
        if not self._neural.is_trained:
            return None
        return self.keyword_fit().threshold

    def _shares(self, query: str) -> np.ndarray:
        """Each neural label's share of the keywords ``query`` mentions (zeros when none)."""
        result = self._keyword.classify(query)
        if not result.details.get("matched"):
            return np.zeros(len(self._neural.labels))
        return np.array([result.scores.get(name, 0.0) for name in self._neural.labels])

    def classify(self, query: str) -> ClassificationResult:
        """Classify with both halves and combine them (see the class docstring)."""
        kw = self._keyword.classify(query)
        matched = bool(kw.details.get("matched"))
        details: dict[str, object] = {"keyword": _summary(kw)}
        if not self._neural.is_trained:
            details["disagreement"] = False
            return _with(kw, "keyword", details)
        z, asked = self._neural.cascade_scores(query)
        nn = self._neural.result_from_scores(z)
        details["neural"] = _summary(nn)
        details["second_opinion"] = asked
        disagree = matched and kw.expert != nn.expert
        details["disagreement"] = disagree
        if disagree:
            logger.info(
                "classifiers disagree",
                extra={
                    "query": query[:200],
                    "keyword_expert": kw.expert,
                    "keyword_confidence": round(kw.confidence, 3),
                    "neural_expert": nn.expert,
                    "neural_confidence": round(nn.confidence, 3),
                },
            )
        if not matched or nn.confidence >= CONFIDENT_NEURAL:
            return _with(nn, "neural", details)
        if kw.expert not in self._neural.labels:
            return _with(kw, "keyword", details)
        fit = self.keyword_fit()
        details["keyword_fit"] = {"strength": fit.strength, "temperature": fit.temperature, "source": fit.source}
        shares = np.array([kw.scores.get(name, 0.0) for name in self._neural.labels])
        combined = self._neural.result_from_scores(z + fit.strength * shares, fit.temperature, "hybrid")
        return _with(combined, "hybrid", details)


def _with(result: ClassificationResult, method: str, details: dict[str, object]) -> ClassificationResult:
    return ClassificationResult(
        expert=result.expert, confidence=result.confidence, scores=dict(result.scores), method=method, details=details
    )


def _summary(result: ClassificationResult) -> dict[str, object]:
    return {
        "expert": result.expert,
        "confidence": result.confidence,
        "scores": result.scores,
        **({"matched": result.details["matched"]} if "matched" in result.details else {}),
    }
