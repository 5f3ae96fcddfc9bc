"""Keyword classifier: matching rules, scores and confidence."""

from __future__ import annotations

import pytest

from largeforge_router.classifiers.keyword import KeywordClassifier


@pytest.fixture()
def clf() -> KeywordClassifier:
    return KeywordClassifier(
        {
            "code": ["python", "java", "stack trace", "c++", "bug"],
            "math": ["integral", "derivative", "matrix", "proof"],
            "cooking": ["recipe", "oven"],
        },
        fallback_expert="general",
    )


def test_case_insensitive_and_scores_every_expert(clf: KeywordClassifier) -> None:
    result = clf.classify("My PYTHON script has a Bug")
    assert result.expert == "code"
    assert result.method == "keyword"
    assert set(result.scores) == {"code", "math", "cooking"}
    assert result.scores["code"] == 1.0 and result.scores["math"] == 0.0
    assert result.details["matched"] == {"code": ["bug", "python"]}


def test_word_boundaries(clf: KeywordClassifier) -> None:
    # "java" must not match inside "javascript", nor "proof" inside "waterproof".
    assert clf.classify("javascript and a waterproof jacket").confidence == 0.0
    # Symbols at keyword edges still match as whole tokens.
    assert clf.classify("templates in C++ are hard").expert == "code"


def test_phrases_match_across_spacing_and_weigh_more(clf: KeywordClassifier) -> None:
    result = clf.classify("here is the Stack\n  Trace of the crash")
    assert result.expert == "code"
    assert result.details["matched"]["code"] == ["stack trace"]
    phrase = clf.classify("a stack trace").confidence
    word = clf.classify("a bug").confidence
    assert phrase > word


def test_no_match_gives_fallback_with_zero_confidence(clf: KeywordClassifier) -> None:
    result = clf.classify("what is the capital of France?")
    assert result.expert == "general"
    assert result.confidence == 0.0


def test_confidence_grows_with_matches_and_separation(clf: KeywordClassifier) -> None:
    one = clf.classify("an integral").confidence
    two = clf.classify("an integral and a derivative").confidence
    three = clf.classify("integral, derivative, matrix").confidence
    assert 0 < one < two <= three <= 1.0
    # A competing expert lowers confidence; a tie gives none.
    contested = clf.classify("integral derivative recipe").confidence
    assert contested < two
    assert clf.classify("an integral in the oven").confidence == 0.0


def test_add_and_remove_expert(clf: KeywordClassifier) -> None:
    clf.add_expert("legal", ["contract", "lawsuit"])
    assert clf.classify("is this contract valid").expert == "legal"
    clf.remove_expert("legal")
    assert "legal" not in clf.classify("is this contract valid").scores
    assert clf.experts == ["code", "math", "cooking"]
