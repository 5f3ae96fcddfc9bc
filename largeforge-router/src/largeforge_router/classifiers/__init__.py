"""Router classifiers: keyword, neural (MiniLM + trained head) and hybrid (spec 5.1–5.3)."""

from largeforge_router.classifiers.hybrid import HybridClassifier
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier

__all__ = ["HybridClassifier", "KeywordClassifier", "NeuralClassifier"]
