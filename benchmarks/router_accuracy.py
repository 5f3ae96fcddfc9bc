"""Routing accuracy of LargeForge's classifiers beside plain baselines, on three labelled sets.

For each set (``examples/router``, ``examples/router_second`` and ``examples/router_third``: a
``router.yaml``, a ``train.jsonl`` and a held-out ``eval.jsonl``):

1. LargeForge's ``keyword``, ``neural`` and ``hybrid`` classifiers, built from the set's config
   with its default settings and trained on ``train.jsonl`` exactly as ``largeforge router eval``
   does (and ``neural_frozen``: ``neural`` with ``fine_tune: false``, the encoder left frozen),
   scored by the same code (threshold and fallback included: ``accuracy`` is the expert a query
   finally reaches, ``classifier_accuracy`` the classifier's own pick), with the threshold in force
   (``auto``: the one the classifier fitted on its own held-out folds), the one ``router eval``
   recommends, and the latency of classifying one query: wall-clock p50/p95, and
   the p50 of the thread's CPU time, which is what one query costs on an idle core (on a loaded
   machine the wall clock mostly measures waiting for a core).
2. Baselines on the same MiniLM embeddings of the same training queries: nearest centroid
   (cosine), nearest training utterance (cosine 1-NN) and scikit-learn's
   ``LogisticRegression()`` with its defaults. They have no fallback: their accuracy is their pick.

Nothing is trained on ``eval.jsonl``. The fine-tuned layers are cached in a fresh temporary
``LARGEFORGE_HOME``, so ``fit_seconds`` of ``neural`` is a cold fit (fine-tuning included) and
``hybrid``, trained on the same data, reuses its cached layers, as a restarted router would.
Writes ``benchmarks/results/router_accuracy.json``.

    python benchmarks/router_accuracy.py [--sets examples/router examples/router_second]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sklearn.linear_model import LogisticRegression

from largeforge_router.classifiers.embedder import embed
from largeforge_router.classifiers.factory import build_classifier
from largeforge_router.config import load_router_config, read_labelled
from largeforge_router.evaluation import evaluate, percentile

ROOT = Path(__file__).resolve().parents[1]
SETS = [ROOT / "examples" / name for name in ("router", "router_second", "router_third", "router_confusable")]
RESULTS = ROOT / "benchmarks" / "results" / "router_accuracy.json"
METHODS = ("keyword", "neural_frozen", "neural", "hybrid_fast_only", "hybrid")
#: variants of a classifier type: the settings they change
VARIANTS = {"_frozen": {"fine_tune": False}, "_fast_only": {"second_opinion": False}}


def baselines(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy of nearest centroid, nearest utterance and default logistic regression."""
    x_train, x_test = embed([q for q, _ in train]), embed([q for q, _ in test])
    y_train = np.array([e for _, e in train])
    y_test = np.array([e for _, e in test])
    labels = sorted(set(y_train))
    centroids = np.stack([x_train[y_train == name].mean(axis=0) for name in labels])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    centroid_pick = np.array(labels)[(x_test @ centroids.T).argmax(axis=1)]
    nearest_pick = y_train[(x_test @ x_train.T).argmax(axis=1)]
    logistic_pick = LogisticRegression().fit(x_train, y_train).predict(x_test)
    return {
        "nearest_centroid": float((centroid_pick == y_test).mean()),
        "nearest_utterance": float((nearest_pick == y_test).mean()),
        "logistic_regression": float((logistic_pick == y_test).mean()),
    }


def cpu_p50(classifier: Any, queries: list[str]) -> float:
    """Median CPU time of this thread (ms) to classify one query."""
    times = []
    for query in queries:
        start = time.thread_time()
        classifier.classify(query)
        times.append((time.thread_time() - start) * 1000)
    return percentile(times, 50)


def measure(folder: Path) -> dict[str, Any]:
    """Every method and baseline on one labelled set."""
    config = load_router_config(folder / "router.yaml")
    train, test = read_labelled(folder / "train.jsonl"), read_labelled(folder / "eval.jsonl")
    experts = [e.name for e in config.experts if e.enabled]
    methods = {}
    for name in METHODS:
        settings, classifier_type = config.classifier, name
        for suffix, changes in VARIANTS.items():
            if name.endswith(suffix):
                settings, classifier_type = msgspec.structs.replace(settings, **changes), name.removesuffix(suffix)
        start = time.perf_counter()
        classifier = build_classifier(settings, config.experts, classifier_type=classifier_type, training_data=train)
        fit_seconds = time.perf_counter() - start
        report = evaluate(classifier, config.classifier, test, experts)
        sweep = report["thresholds"]
        at = {row["threshold"]: row for row in sweep["sweep"]}
        methods[name] = {
            "accuracy": report["accuracy"],
            "threshold_in_force": report["confidence_threshold"],
            "classifier_accuracy": report["classifier_accuracy"],
            "fallback_rate": report["fallback_rate"],
            "latency_ms": report["latency_ms"],
            "second_opinion": report["second_opinion"],
            "ece": report["calibration"]["ece"],
            "wrong_confident": report["calibration"]["wrong_confident"],
            "reliability": report["calibration"]["reliability"],
            "cpu_ms_p50": cpu_p50(classifier, [q for q, _ in test]),
            "recommended_threshold": sweep["recommended"],
            "accuracy_at_recommended": at[sweep["recommended"]]["accuracy"],
            "fit_seconds": fit_seconds,
            "errors": report["errors"],
        }
    return {
        "set": str(folder.relative_to(ROOT)),
        "experts": len(experts),
        "train_examples": len(train),
        "test_examples": len(test),
        "confidence_threshold": config.classifier.confidence_threshold,
        "methods": methods,
        "baselines": baselines(train, test),
    }


def main() -> None:
    """Run every set and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS, help="Folders of labelled sets.")
    args = parser.parse_args()
    machine: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "torch_threads": os.environ.get("LARGEFORGE_ROUTER_TORCH_THREADS", "1"),
    }
    with tempfile.TemporaryDirectory() as home:
        os.environ["LARGEFORGE_HOME"] = home  # cold fits: nothing tuned before this run is reused
        sets = [measure(folder.resolve()) for folder in args.sets]
    machine["load_average_after"] = os.getloadavg()
    result = {"machine": machine, "sets": sets}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for entry in sets:
        print(
            f"{entry['set']}: {entry['experts']} experts, {entry['train_examples']} training, "
            f"{entry['test_examples']} held-out queries (threshold {entry['confidence_threshold']})"
        )
        for name, m in entry["methods"].items():
            print(
                f"  {name:<20} {m['accuracy']:.3f}  (pick {m['classifier_accuracy']:.3f}, threshold "
                f"{m['threshold_in_force']:g}, fallback "
                f"{m['fallback_rate']:.3f}; recommended threshold {m['recommended_threshold']}: "
                f"{m['accuracy_at_recommended']:.3f}; p50 {m['latency_ms']['p50']:.1f} ms wall, "
                f"{m['cpu_ms_p50']:.1f} ms CPU; ECE {m['ece']:.3f}, wrong at ≥ 0.9: {m['wrong_confident']:.3f}; "
                f"second opinion {m['second_opinion']['rate']:.2f} of queries, p50 fast "
                f"{m['second_opinion']['fast_p50_ms']:.1f} / cascade {m['second_opinion']['cascade_p50_ms']:.1f} ms)"
            )
        for name, accuracy in entry["baselines"].items():
            print(f"  {name:<20} {accuracy:.3f}")
    print(f"load average {machine['load_average_before']} -> {machine['load_average_after']}")


if __name__ == "__main__":
    main()
