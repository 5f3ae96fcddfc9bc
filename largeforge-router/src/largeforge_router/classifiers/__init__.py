"""Router classifiers: keyword, neural (MiniLM + trained head) and hybrid."""

from largeforge_router.classifiers.hybrid import HybridClassifier
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier

__all__ = ["HybridClassifier", "KeywordClassifier", "NeuralClassifier"]
