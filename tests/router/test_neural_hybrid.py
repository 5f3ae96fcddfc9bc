"""Neural (MiniLM + trained head) and hybrid classifiers on the example labelled set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from largeforge.errors import LargeForgeError
from largeforge_router.classifiers.hybrid import HybridClassifier
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.config import read_labelled

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def trained(examples_dir: Path) -> NeuralClassifier:
    clf = NeuralClassifier(seed=0)
    stats = clf.train(read_labelled(examples_dir / "train.jsonl"))
    assert stats["train_accuracy"] > 0.95
    return clf


def test_untrained_is_unsure_and_says_why() -> None:
    clf = NeuralClassifier(experts=["code", "math"], fallback_expert="general")
    result = clf.classify("anything")
    assert (result.expert, result.confidence, result.method) == ("general", 0.0, "neural")
    assert result.scores == {"code": 0.5, "math": 0.5}
    assert result.details["reason"] == "untrained"


def test_trained_head_generalises_to_unseen_wording(trained: NeuralClassifier) -> None:
    result = trained.classify("How do I poach an egg without it falling apart?")
    assert result.expert == "cooking" and result.confidence > 0.5
    assert set(result.scores) == {"code", "cooking", "finance", "general", "legal", "math", "medical"}
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert trained.classify("My tenant stopped paying rent, can I make them leave?").expert == "legal"


def test_training_is_deterministic_and_save_load_round_trips(trained: NeuralClassifier, tmp_path: Path,
                                                             examples_dir: Path) -> None:
    query = "Should I put my bonus into an index fund?"
    subset = read_labelled(examples_dir / "train.jsonl")[::4]
    first, second = NeuralClassifier(seed=0), NeuralClassifier(seed=0)
    first.train(subset)
    second.train(subset)
    assert first.classify(query).scores == pytest.approx(second.classify(query).scores, abs=1e-6)
    trained.save(tmp_path / "head")
    loaded = NeuralClassifier(str(tmp_path / "head"))
    assert loaded.labels == trained.labels
    assert loaded.classify(query).scores == pytest.approx(trained.classify(query).scores, abs=1e-6)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(LargeForgeError, match="not a saved neural classifier"):
        NeuralClassifier(str(tmp_path))
    with pytest.raises(LargeForgeError, match="at least two experts"):
        NeuralClassifier().train([("a", "x"), ("b", "x")])
    with pytest.raises(LargeForgeError, match="not trained"):
        NeuralClassifier().save(tmp_path / "h")


KEYWORDS = {"code": ["python", "bug", "compile"], "cooking": ["recipe", "oven"], "general": [],
            "math": [], "medical": [], "legal": [], "finance": []}


def test_hybrid_strong_keywords_decide_alone(trained: NeuralClassifier) -> None:
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    result = hybrid.classify("my python code has a bug and will not compile")
    assert result.expert == "code" and result.method == "keyword"
    assert result.details["keyword"]["matched"] == {"code": ["bug", "compile", "python"]}
    assert "neural" in result.details and result.details["disagreement"] is False


def test_hybrid_without_keywords_uses_neural(trained: NeuralClassifier) -> None:
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    result = hybrid.classify("What are the early signs of a stroke?")
    assert result.expert == "medical" and result.method == "neural"
    assert result.confidence == pytest.approx(trained.classify("What are the early signs of a stroke?").confidence)


def test_hybrid_disagreement_lowers_confidence_and_is_logged(trained: NeuralClassifier, caplog) -> None:
    # "oven" is a cooking keyword, but the question is about money.
    query = "Is it worth buying a new oven on credit card debt or should I keep saving?"
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    with caplog.at_level(logging.INFO, logger="largeforge"):
        result = hybrid.classify(query)
    assert result.details["disagreement"] is True
    assert any(r.getMessage() == "classifiers disagree" for r in caplog.records)
    kw, nn = result.details["keyword"], result.details["neural"]
    assert kw["expert"] == "cooking" and nn["expert"] == "finance"
    undamped = {"keyword": kw["confidence"], "neural": nn["confidence"],
                "hybrid": max(0.3 * kw["scores"].get(e, 0) + 0.7 * nn["scores"].get(e, 0)
                              for e in nn["scores"])}[result.method]
    assert result.confidence == pytest.approx(0.8 * undamped)


def test_hybrid_untrained_falls_back_on_keywords() -> None:
    hybrid = HybridClassifier(KEYWORDS)
    assert hybrid.classify("an oven recipe").method == "keyword"
    result = hybrid.classify("no keywords at all")
    assert result.expert == "general" and result.confidence == 0.0
