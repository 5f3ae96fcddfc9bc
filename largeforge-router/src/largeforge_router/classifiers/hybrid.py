"""Hybrid classifier (spec 5.3): keywords when they are decisive, embeddings otherwise."""

from __future__ import annotations

from largeforge.contracts import ClassificationResult
from largeforge.utils.logging import get_logger
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier

logger = get_logger("largeforge.router.hybrid")  # under the largeforge logger tree

STRONG_KEYWORD = 0.8  # a keyword result this sure is taken as is
CONFIDENT_NEURAL = 0.9  # a neural result this sure is taken as is
DISAGREEMENT_PENALTY = 0.8  # confidence multiplier when the two methods pick different experts


class HybridClassifier:
    """Combine a :class:`KeywordClassifier` and a :class:`NeuralClassifier`.

    * keyword confidence > 0.8 → keyword alone (``method="keyword"``);
    * neural confidence > 0.9 → neural alone (``method="neural"``);
    * no keyword matched → neural alone (keywords abstain rather than vote for nobody);
    * otherwise a weighted sum of the two score vectors (``method="hybrid"``).

    When both methods have an opinion and disagree, the confidence is multiplied by 0.8 and the
    disagreement is logged. ``details`` carries both methods' results.
    """

    def __init__(self, keyword_config: dict[str, list[str]], neural_model: str | None = None,
                 keyword_weight: float = 0.3, neural_weight: float = 0.7, *,
                 fallback_expert: str = "general", neural: NeuralClassifier | None = None) -> None:
        self.keyword_weight = keyword_weight
        self.neural_weight = neural_weight
        self.fallback_expert = fallback_expert
        self._keyword = KeywordClassifier(keyword_config, fallback_expert=fallback_expert)
        self._neural = neural or NeuralClassifier(neural_model, experts=list(keyword_config),
                                                  fallback_expert=fallback_expert)

    @property
    def keyword_classifier(self) -> KeywordClassifier:
        """The keyword half."""
        return self._keyword

    @property
    def neural_classifier(self) -> NeuralClassifier:
        """The neural half."""
        return self._neural

    def classify(self, query: str) -> ClassificationResult:
        """Classify with both methods and combine them (see the class docstring)."""
        kw = self._keyword.classify(query)
        nn = self._neural.classify(query)
        details: dict[str, object] = {"keyword": _summary(kw), "neural": _summary(nn)}
        kw_voted = kw.confidence > 0 or bool(kw.details.get("matched"))
        disagree = kw_voted and self._neural.is_trained and kw.expert != nn.expert
        if disagree:
            logger.info("classifiers disagree", extra={"query": query[:200], "keyword_expert": kw.expert,
                                                       "keyword_confidence": round(kw.confidence, 3),
                                                       "neural_expert": nn.expert,
                                                       "neural_confidence": round(nn.confidence, 3)})
        details["disagreement"] = disagree

        if kw.confidence > STRONG_KEYWORD:
            return self._result(kw.expert, kw.confidence, kw.scores, "keyword", details, disagree)
        if nn.confidence > CONFIDENT_NEURAL or (not kw_voted and self._neural.is_trained):
            return self._result(nn.expert, nn.confidence, nn.scores, "neural", details, disagree)
        if not self._neural.is_trained:
            return self._result(kw.expert, kw.confidence, kw.scores, "keyword", details, False)

        names = list(dict.fromkeys([*kw.scores, *nn.scores]))
        combined = {n: self.keyword_weight * kw.scores.get(n, 0.0) + self.neural_weight * nn.scores.get(n, 0.0)
                    for n in names}
        best = max(names, key=lambda n: combined[n])
        return self._result(best, combined[best], combined, "hybrid", details, disagree)

    def _result(self, expert: str, confidence: float, scores: dict[str, float], method: str,
                details: dict[str, object], disagree: bool) -> ClassificationResult:
        if disagree:
            confidence *= DISAGREEMENT_PENALTY
        return ClassificationResult(expert=expert, confidence=confidence, scores=dict(scores),
                                    method=method, details=details)


def _summary(result: ClassificationResult) -> dict[str, object]:
    return {"expert": result.expert, "confidence": result.confidence, "scores": result.scores,
            **({"matched": result.details["matched"]} if "matched" in result.details else {})}
