"""The bundled general questions learnt as the catch-all expert's examples (outlier exposure): trivia
that mentions a specialist's words stays with the catch-all, specialists' questions do not move."""

from __future__ import annotations

from largeforge.config import ExpertConfig
from largeforge_router.classifiers.background import background_queries, with_background
from largeforge_router.classifiers.factory import build_classifier
from largeforge_router.config import ClassifierSettings

TRAINING = [
    ("How do I fix this Python stack trace?", "code"),
    ("Why does my JavaScript loop never end?", "code"),
    ("How do I reverse a list in Python?", "code"),
    ("What does this compiler error mean?", "code"),
    ("How long should I boil an egg?", "cooking"),
    ("What can I cook with leftover rice?", "cooking"),
    ("How do I make bread dough rise?", "cooking"),
    ("What spices go well with lentil soup?", "cooking"),
    ("Tell me a joke", "general"),
    ("What is the capital of Peru?", "general"),
    ("Recommend a good novel", "general"),
    ("How are you today?", "general"),
]
EXPERTS = [
    ExpertConfig(name="code", description="Programming help", keywords=["python"]),
    ExpertConfig(name="cooking", description="Recipes and cooking", keywords=["recipe"]),
    ExpertConfig(name="general", description="Everything else"),
]
#: trivia with a specialist's words, none of them in the bank
TRIVIA = [
    "Who wrote the first computer program?",
    "Which country eats the most pasta per person?",
    "When was the first cookbook printed?",
    "Why is the programming language Rust named after a fungus?",
    "Who invented the microwave oven?",
]
#: the specialists' own questions, not in their training queries
SPECIALIST = [
    ("How do I sort a dictionary by value in Python?", "code"),
    ("My C program segfaults when I free a pointer twice", "code"),
    ("How long do I roast a whole chicken?", "cooking"),
    ("What can I use instead of eggs in pancakes?", "cooking"),
]


def _routes(background: bool) -> list[str]:
    settings = ClassifierSettings(
        fallback_expert="general", fine_tune=False, second_opinion=False, background=background
    )
    classifier = build_classifier(settings, EXPERTS, classifier_type="neural", training_data=TRAINING)
    return [classifier.classify(query).expert for query in TRIVIA + [q for q, _ in SPECIALIST]]


def test_bank_is_added_to_the_fallback_expert_only_when_it_is_in_the_team() -> None:
    bank = background_queries()
    assert len(bank) > 100 and not any(line.startswith("#") for line in bank)
    texts = {"code": ["Programming help"], "general": ["Everything else"]}
    added = with_background(texts, "general")
    assert added["code"] == ["Programming help"] and added["general"] == ["Everything else", *bank]
    assert texts["general"] == ["Everything else"]  # the caller's mapping is left as it was
    assert with_background(texts, "chit-chat") == texts  # no catch-all in the team: nothing added


def test_trivia_with_domain_words_stays_with_the_catch_all() -> None:
    expected = ["general"] * len(TRIVIA) + [expert for _, expert in SPECIALIST]
    with_bank = _routes(background=True)
    assert with_bank == expected
    # without the bank the same team sends most of that trivia to the specialist whose words it has
    without = _routes(background=False)
    assert sum(route != "general" for route in without[: len(TRIVIA)]) >= 3
