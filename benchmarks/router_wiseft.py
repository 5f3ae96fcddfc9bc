"""Would interpolating the fine-tuned layers toward the pretrained ones help? (WiSE-FT, an ablation.)

WiSE-FT (Wortsman et al. 2022) mixes the weights, ``θ = θ₀ + α (θ_tuned − θ₀)``: α = 0 is the
frozen MiniLM, α = 1 the router's fine-tuned top layers; it often makes a fine-tuned model
more robust at no cost per query. For each labelled set and α, the top layers are fine-tuned
as the router does (``classifiers/finetune.py``), interpolated, and a fixed head (logistic
regression, C = 10, balanced weights) is fitted on the embeddings. Reported: the pick accuracy
on the held-out ``eval.jsonl`` (3 seeds) and, on the training side only, 4-fold
cross-validation over the training queries (2 shuffles; each fold fine-tunes without its
held-out queries). Writes ``benchmarks/results/router_wiseft.json``.

    python benchmarks/router_wiseft.py [--alphas 0 0.25 0.5 0.75 1]
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

RESULTS = ROOT / "benchmarks" / "results" / "router_wiseft.json"


def _mix(base: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    return {k: base[k] + alpha * (v - base[k]) if v.is_floating_point() else v for k, v in tuned.items()}


def measure(folder: Path, alphas: list[float]) -> dict[str, Any]:
    """Held-out and training-side accuracy of one set at every ``alpha``."""
    data = load_set(folder)
    y, texts, n_rows, n_train, n_labels = data.y, data.texts, data.n_rows, data.n_train, data.n_labels
    tuner = finetune.Tuner(get_embedder(), texts, model_key="ablation")
    base = {k: v.clone() for k, v in tuner._top().state_dict().items()}
    held: dict[float, list[float]] = {a: [] for a in alphas}
    cv: dict[float, list[float]] = {a: [] for a in alphas}
    for seed in (0, 1, 2):
        tuner.seed = seed
        state = tuner._train(list(range(n_rows)), y[:n_rows], n_labels)
        for a in alphas:
            x = tuner.embed(_mix(base, state, a), list(range(len(texts))))
            held[a].append(fixed_head_accuracy(x, y, np.arange(n_rows), np.arange(n_rows, len(texts)), n_labels))
    for seed in (0, 1):
        tuner.seed = seed
        right = dict.fromkeys(alphas, 0)
        for fit_rows, test_rows in StratifiedKFold(4, shuffle=True, random_state=seed).split(
            np.zeros(n_train), y[:n_train]
        ):
            keep = np.concatenate([fit_rows, np.arange(n_train, n_rows)])
            state = tuner._train(keep.tolist(), y[keep], n_labels)
            for a in alphas:
                x = tuner.embed(_mix(base, state, a), list(range(n_rows)))
                right[a] += round(fixed_head_accuracy(x, y, keep, test_rows, n_labels) * len(test_rows))
        for a in alphas:
            cv[a].append(right[a] / n_train)
    return {
        str(a): {
            "held_out": held[a],
            "held_out_mean": float(np.mean(held[a])),
            "training_cv": cv[a],
            "training_cv_mean": float(np.mean(cv[a])),
        }
        for a in alphas
    }


def main() -> None:
    """Run every alpha on every set and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = {}
    for folder in args.sets:
        name = str(folder.resolve().relative_to(ROOT))
        results[name] = measure(folder, args.alphas)
        for alpha, m in results[name].items():
            print(
                f"{name:<24} alpha {alpha:<5} held-out {m['held_out_mean']:.3f}  training CV "
                f"{m['training_cv_mean']:.3f}",
                flush=True,
            )
    RESULTS.write_text(json.dumps({"load_average": [load_before, os.getloadavg()], "sets": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
