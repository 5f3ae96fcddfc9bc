"""Neural (MiniLM + trained head) and hybrid classifiers on the example labelled set."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from largeforge.errors import LargeForgeError
from largeforge_router.classifiers.head import C_GRID, NEAREST_GRID, fit_head, log_loss
from largeforge_router.classifiers.hybrid import CONFIDENT_NEURAL, STRENGTH_GRID, HybridClassifier
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.config import load_router_config, read_labelled

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


def test_training_is_deterministic_and_save_load_round_trips(
    trained: NeuralClassifier, tmp_path: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "Should I put my bonus into an index fund?"
    subset = read_labelled(examples_dir / "train.jsonl")[::4]
    first, second = NeuralClassifier(seed=0), NeuralClassifier(seed=0)
    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path / "one"))
    first.train(subset)
    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path / "two"))  # fine-tuned afresh, not cached
    second.train(subset)
    assert first.classify(query).scores == pytest.approx(second.classify(query).scores, abs=1e-6)
    trained.save(tmp_path / "head")
    loaded = NeuralClassifier(str(tmp_path / "head"))
    assert loaded.labels == trained.labels
    assert loaded.classify(query).scores == pytest.approx(trained.classify(query).scores, abs=1e-6)


def test_head_is_cross_validated_and_calibrated(trained: NeuralClassifier) -> None:
    head = trained.head
    assert head is not None and head.validation is not None
    assert head.c in C_GRID and head.nearest_weight in NEAREST_GRID and 0.05 < head.temperature < 20
    assert head.cv_accuracy is not None and 0.5 < head.cv_accuracy <= 1
    # Temperature scaling: the held-out folds are likelier under the fitted temperature than
    # under the raw scores, and the fold predictions' accuracy is what cv_accuracy reports.
    z, targets = head.validation.scores, head.validation.targets
    assert log_loss(z / head.temperature, targets) <= log_loss(z, targets)
    assert (z.argmax(1) == targets).mean() == pytest.approx(head.cv_accuracy)
    assert len(trained.validation_queries) == len(targets)


def _clusters(centres: np.ndarray, labels: list[int], per: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.concatenate([c + 0.2 * rng.standard_normal((per, len(c))) for c in centres])
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(labels, per)


def test_head_chooses_its_settings_by_cross_validation_unless_fixed() -> None:
    # Over the full grids the head picks a pair by cross-validation; with a single candidate
    # each (not the defaults), it takes that pair and the folds still fit the temperature.
    x, y = _clusters(np.eye(8)[:4], [0, 1, 0, 1])
    queries = np.ones(len(y), dtype=bool)
    searched = fit_head(x, y, ["a", "b"], queries=queries)
    assert searched.c in C_GRID and searched.nearest_weight in NEAREST_GRID
    assert searched.validation is not None and searched.cv_accuracy is not None
    fixed = fit_head(x, y, ["a", "b"], queries=queries, c_grid=(0.3,), nearest_grid=(2.0,))
    assert (fixed.c, fixed.nearest_weight) == (0.3, 2.0)
    assert fixed.validation is not None and fixed.temperature != 1.0
    z = fixed.validation.scores
    assert (z.argmax(1) == fixed.validation.targets).mean() == pytest.approx(fixed.cv_accuracy)


def test_linear_head_of_two_experts_separates_them() -> None:
    # scikit-learn fits two classes as one row (class 1 against class 0); both experts must get
    # their own scores from it, not the same row (which made every query the first expert's).
    x, y = _clusters(np.eye(6)[:2], [0, 1])
    head = fit_head(x, y, ["a", "b"], queries=np.ones(len(y), dtype=bool), c_grid=(10.0,), nearest_grid=(0.0,))
    assert (head.scores(x).argmax(1) == y).all() and head.cv_accuracy == 1.0
    assert head.probabilities(x)[y == 1, 1].min() > 0.5


def test_preferred_pair_is_kept_unless_another_is_clearly_better() -> None:
    # Separable clusters: every pair is right on every held-out query, so the preferred pair
    # stays even though the free choice (best log-loss among equals) is another.
    x, y = _clusters(np.eye(6)[:4], [0, 1, 0, 1])
    queries = np.ones(len(y), dtype=bool)
    free = fit_head(x, y, ["a", "b"], queries=queries)
    kept = fit_head(x, y, ["a", "b"], queries=queries, prefer=(10.0, 0.0))
    assert (free.c, free.nearest_weight) != (10.0, 0.0)
    assert (kept.c, kept.nearest_weight) == (10.0, 0.0) and kept.cv_accuracy == free.cv_accuracy == 1.0
    # Each label on both sides of the origin: no linear head separates them, nearest examples
    # do, so the rule leaves the preferred linear-only pair for one with nearest evidence.
    e = np.eye(6)
    x, y = _clusters(np.stack([e[0], -e[0], e[1], -e[1]]), [0, 0, 1, 1])
    switched = fit_head(x, y, ["a", "b"], queries=queries, prefer=(10.0, 0.0))
    assert switched.nearest_weight > 0 and switched.cv_accuracy is not None and switched.cv_accuracy > 0.9


def test_descriptions_and_keywords_are_learnt_as_examples() -> None:
    # "astronomy" has no training query at all: only its description and keywords.
    data = [
        ("How do I fix a null pointer exception?", "code"),
        ("Why does my build fail?", "code"),
        ("What is a good bread recipe?", "cooking"),
        ("How long do I boil an egg?", "cooking"),
    ]
    clf = NeuralClassifier(expert_texts={"astronomy": ["Stars, planets and telescopes", "galaxy", "orbit"]})
    clf.train(data)
    assert clf.labels == ["astronomy", "code", "cooking"]
    assert clf.classify("Which planet has the most moons?").expert == "astronomy"
    with pytest.raises(LargeForgeError, match="no training query, description or keyword for expert"):
        NeuralClassifier(experts=["code", "cooking", "legal"]).train(data)


def test_training_is_balanced_per_expert() -> None:
    # Ten times more "code" rows must not make the head lean to code on a cooking question.
    code = [("How do I fix a null pointer exception?", "code"), ("Why does my build fail?", "code")] * 10
    cooking = [("What is a good bread recipe?", "cooking"), ("How long do I boil an egg?", "cooking")]
    clf = NeuralClassifier()
    clf.train(code + cooking)
    assert clf.classify("How do I make pancakes fluffy?").expert == "cooking"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(LargeForgeError, match="not a saved neural classifier"):
        NeuralClassifier(str(tmp_path))
    with pytest.raises(LargeForgeError, match="at least two experts"):
        NeuralClassifier().train([("a", "x"), ("b", "x")])
    with pytest.raises(LargeForgeError, match="not trained"):
        NeuralClassifier().save(tmp_path / "h")


KEYWORDS = {
    "code": ["python", "bug", "compile"],
    "cooking": ["recipe", "oven"],
    "general": [],
    "math": [],
    "medical": [],
    "legal": [],
    "finance": [],
    "astrology": ["horoscope"],
}


def test_keywords_never_overturn_a_confident_neural_answer(trained: NeuralClassifier) -> None:
    # "oven" and "recipe" are cooking keywords, but the question is plainly about money.
    query = "Is it worth buying a new oven on credit card debt, or should I keep saving for a recipe book?"
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    neural = trained.classify(query)
    assert neural.expert == "finance" and neural.confidence >= CONFIDENT_NEURAL
    result = hybrid.classify(query)
    assert (result.expert, result.method) == ("finance", "neural")
    assert result.confidence == pytest.approx(neural.confidence)
    assert result.details["disagreement"] is True
    assert result.details["keyword"]["matched"] == {"cooking": ["oven", "recipe"]}


@pytest.fixture(scope="module")
def fast_only(examples_dir: Path) -> NeuralClassifier:
    """The fast path alone (no second opinion), whose held-out folds keep queries it is unsure of:
    with the cascade the second opinion settles most of them before keywords are asked."""
    clf = NeuralClassifier(seed=0, second_opinion=False)
    clf.train(read_labelled(examples_dir / "train.jsonl"))
    return clf


def test_keywords_add_fitted_evidence_when_the_neural_half_is_unsure(
    fast_only: NeuralClassifier, examples_dir: Path
) -> None:
    trained = fast_only
    hybrid = HybridClassifier(load_router_config(examples_dir / "router.yaml").expert_keywords(), neural=trained)
    fit = hybrid.keyword_fit()
    assert fit.source == "cross-validation" and fit.strength in STRENGTH_GRID and fit.rows > 0
    combined = 0
    for query in (
        "is the interest rate on my loan a legal issue",
        "how do I debug a function that returns money",
        "my python script prints the wrong total",
        "what is the probability my stock goes up",
        "can I sue my bank over a wrong tax form",
    ):
        z = trained.scores(query)
        result = hybrid.classify(query)
        if trained.result_from_scores(z).confidence >= CONFIDENT_NEURAL:
            assert result.method == "neural"
            continue
        shares = result.details["keyword"]["scores"]  # type: ignore[index]
        expected = trained.result_from_scores(
            z + fit.strength * np.array([shares.get(name, 0.0) for name in trained.labels]), fit.temperature
        )
        assert result.method == "hybrid" and result.details["keyword_fit"]["strength"] == fit.strength
        assert result.scores == pytest.approx(expected.scores) and result.expert == expected.expert
        combined += 1
    assert combined, "no query went through the combination"


def test_hybrid_without_keywords_uses_neural(trained: NeuralClassifier) -> None:
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    result = hybrid.classify("What are the early signs of a stroke?")
    assert result.expert == "medical" and result.method == "neural"
    assert result.confidence == pytest.approx(trained.classify("What are the early signs of a stroke?").confidence)


def test_hybrid_disagreement_is_logged(trained: NeuralClassifier, caplog) -> None:
    hybrid = HybridClassifier(KEYWORDS, neural=trained)
    with caplog.at_level(logging.INFO, logger="largeforge"):
        result = hybrid.classify("Is it worth buying a new oven on credit card debt?")
    assert result.details["disagreement"] is True
    assert any(r.getMessage() == "classifiers disagree" for r in caplog.records)


def test_keyword_pick_unknown_to_the_neural_half_is_kept(trained: NeuralClassifier) -> None:
    # An expert added at run time exists only in the keyword half.
    result = HybridClassifier(KEYWORDS, neural=trained).classify("what does my horoscope say about my week")
    if result.details["neural"]["confidence"] < CONFIDENT_NEURAL:  # type: ignore[index]
        assert (result.expert, result.method) == ("astrology", "keyword")


def test_hybrid_untrained_falls_back_on_keywords() -> None:
    hybrid = HybridClassifier(KEYWORDS)
    assert hybrid.classify("an oven recipe").method == "keyword"
    result = hybrid.classify("no keywords at all")
    assert result.expert == "general" and result.confidence == 0.0
    assert hybrid.keyword_fit().source == "prior"
    assert hybrid.keyword_fit().strength == pytest.approx(4 * 0.3 / 0.7)


def test_confidence_is_calibrated_on_held_out_queries(examples_dir: Path) -> None:
    # The second labelled set, written before the classifier: trained on train.jsonl, scored on
    # eval.jsonl. A calibrated confidence is about as high as the accuracy, and the confident
    # answers are the right ones.
    from largeforge_router.classifiers.factory import build_classifier

    folder = examples_dir.parent / "router_second"
    config = load_router_config(folder / "router.yaml")
    hybrid = build_classifier(
        config.classifier, config.experts, classifier_type="hybrid", training_data=read_labelled(folder / "train.jsonl")
    )
    held_out = read_labelled(folder / "eval.jsonl")
    results = [hybrid.classify(query) for query, _ in held_out]
    right = np.array([r.expert == expert for r, (_, expert) in zip(results, held_out, strict=True)])
    confidence = np.array([r.confidence for r in results])
    assert right.mean() >= 0.85
    assert abs(confidence.mean() - right.mean()) <= 0.06, (confidence.mean(), right.mean())
    sure = confidence >= CONFIDENT_NEURAL
    assert sure.mean() >= 0.6 and right[sure].mean() >= 0.95
    assert right[~sure].mean() < right[sure].mean()


def test_fitted_threshold_comes_from_the_held_out_folds(
    trained: NeuralClassifier, examples_dir: Path, tmp_path: Path
) -> None:
    from largeforge_router.classifiers.head import softmax
    from largeforge_router.evaluation import fit_threshold

    head = trained.head
    assert head is not None and head.validation is not None
    expected = fit_threshold(
        head.labels, head.validation.targets, softmax(head.validation.scores / head.temperature), "general"
    )
    assert trained.fitted_threshold == expected and 0.0 <= expected <= 0.6
    trained.save(tmp_path / "head")  # a saved head fits the same threshold after loading
    assert NeuralClassifier(str(tmp_path / "head")).fitted_threshold == expected
    hybrid = HybridClassifier(load_router_config(examples_dir / "router.yaml").expert_keywords(), neural=trained)
    assert hybrid.fitted_threshold == hybrid.keyword_fit().threshold is not None


def test_keyword_strength_is_the_smallest_that_helped(trained: NeuralClassifier, examples_dir: Path) -> None:
    from largeforge_router.classifiers.head import softmax

    hybrid = HybridClassifier(load_router_config(examples_dir / "router.yaml").expert_keywords(), neural=trained)
    fit = hybrid.keyword_fit()
    head = trained.head
    assert head is not None and head.validation is not None
    z, targets = head.validation.scores, head.validation.targets
    shares = np.stack([hybrid._shares(q) for q in trained.validation_queries])
    unsure = (softmax(z / head.temperature).max(1) < CONFIDENT_NEURAL) & (shares.sum(1) > 0)
    accuracy = {
        s: float((np.where(unsure[:, None], z + s * shares, z).argmax(1) == targets).mean()) for s in STRENGTH_GRID
    }
    best = max(accuracy.values())
    assert fit.strength == min(s for s, a in accuracy.items() if a == best)
