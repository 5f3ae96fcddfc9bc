"""Evaluation without models: the seeded held-out split, task metrics and classification
reports. Scoring a model (loss, generation) is an evaluator plugin's job (``register_evaluators``)."""

from largeforge.evaluation.classification import classification_report
from largeforge.evaluation.holdout import Split, eval_examples, split_conversations
from largeforge.evaluation.metrics import BUILTIN_METRICS, contains, exact_match, rouge_l

__all__ = [
    "BUILTIN_METRICS",
    "Split",
    "classification_report",
    "contains",
    "eval_examples",
    "exact_match",
    "rouge_l",
    "split_conversations",
]
