"""Does the supervised contrastive term of the router's fine-tuning help? An ablation.

For each labelled set and seed, the MiniLM's top layers are fine-tuned on the training queries
plus the experts' descriptions and keywords (``classifiers/finetune.py``), once with
``CONTRASTIVE_WEIGHT = 0`` (cross-entropy only, the default) and once with ``--weight``
(1.0), and a fixed head
(logistic regression, C = 10, balanced weights) is fitted on the tuned embeddings. Reported:
the pick accuracy on the held-out ``eval.jsonl`` and, on the training side only, 4-fold
cross-validation over the training queries (each fold fine-tunes without its held-out queries).
The fixed head isolates the encoder: the router's own head also chooses C and nearest-example
evidence by cross-validation. Writes ``benchmarks/results/router_contrastive.json``.

    python benchmarks/router_contrastive.py [--seeds 0 1 2] [--cv-seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

import largeforge_router.classifiers.finetune as finetune
from largeforge_router.classifiers.embedder import get_embedder
from router_sets import ROOT, SETS, fixed_head_accuracy, load_set

RESULTS = ROOT / "benchmarks" / "results" / "router_contrastive.json"


def measure(folder: Path, weight: float, seeds: list[int], cv_seeds: list[int]) -> dict[str, Any]:
    """Held-out and training-side accuracy of one set with contrastive weight ``weight``."""
    finetune.CONTRASTIVE_WEIGHT = weight
    data = load_set(folder)
    y_all, texts, n_rows, n_train, n_labels = data.y, data.texts, data.n_rows, data.n_train, data.n_labels
    held_out, cross_validated = [], []
    for seed in seeds:
        tuner = finetune.Tuner(get_embedder(), texts, model_key="ablation", seed=seed)
        state = tuner._train(list(range(n_rows)), y_all[:n_rows], n_labels)
        x = tuner.embed(state, list(range(len(texts))))
        held_out.append(fixed_head_accuracy(x, y_all, np.arange(n_rows), np.arange(n_rows, len(texts)), n_labels))
    for seed in cv_seeds:
        tuner = finetune.Tuner(get_embedder(), texts[:n_rows], model_key="ablation", seed=seed)
        right = 0
        folds = StratifiedKFold(4, shuffle=True, random_state=seed)
        for fit_rows, test_rows in folds.split(np.zeros(n_train), y_all[:n_train]):
            keep = np.concatenate([fit_rows, np.arange(n_train, n_rows)])
            x = tuner.embed(tuner._train(keep.tolist(), y_all[keep], n_labels), list(range(n_rows)))
            right += round(fixed_head_accuracy(x, y_all, keep, test_rows, n_labels) * len(test_rows))
        cross_validated.append(right / n_train)
    return {
        "held_out": held_out,
        "held_out_mean": float(np.mean(held_out)),
        "training_cv": cross_validated,
        "training_cv_mean": float(np.mean(cross_validated)) if cv_seeds else None,
    }


def main() -> None:
    """Run both variants on every set and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cv-seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--weight", type=float, default=1.0, help="Contrastive weight of the second variant.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = {}
    for folder in args.sets:
        name = str(folder.resolve().relative_to(ROOT))
        results[name] = {
            "cross_entropy_only": measure(folder, 0.0, args.seeds, args.cv_seeds),
            "with_contrastive": measure(folder, args.weight, args.seeds, args.cv_seeds),
        }
        for variant, m in results[name].items():
            cv = f"{m['training_cv_mean']:.3f}" if m["training_cv_mean"] is not None else "-"
            print(
                f"{name:<24} {variant:<20} held-out {m['held_out_mean']:.3f} {m['held_out']}  training CV {cv}",
                flush=True,
            )
    RESULTS.write_text(
        json.dumps(
            {
                "load_average": [load_before, os.getloadavg()],
                "weight": args.weight,
                "seeds": args.seeds,
                "cv_seeds": args.cv_seeds,
                "sets": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
