"""Should the fine-tuned router head choose its settings on its own folds? Nested cross-validation.

The neural head has two settings, the logistic regression's ``C`` and the weight of
nearest-example evidence. Over a fine-tuned encoder its cross-validation has three folds (each
fine-tunes its own encoder), and choosing among all ``C_GRID × NEAREST_GRID`` pairs on them may
over-fit the choice. This measures it on the training side only (``eval.jsonl`` is never read):
outer stratified 4-fold cross-validation over each set's training queries, two shuffles; in
every outer fold the classifier is trained as the router trains it (fine-tuning, inner folds,
temperature) on the outer training queries plus the experts' descriptions and keywords, with
the full grids, and then

* **free choice** — the head with the pair its inner folds chose (best accuracy, then log-loss)
  answers the outer held-out queries;
* **rule** — the pair (C = 10, no nearest evidence) unless the inner folds' best pair beats it by
  more than one standard error (``fit_head``'s ``prefer``);
* **fixed C, w** — a head with that pair, on the same fine-tuned encoder, answers them.

Prints and writes ``benchmarks/results/router_head_selection.json``. ~16 minutes on one idle core.

    python benchmarks/router_head_selection.py [--sets examples/router ...] [--shuffles 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

import largeforge_router.classifiers.neural as neural
from largeforge_router.classifiers.factory import expert_texts
from largeforge_router.classifiers.head import C_GRID, NEAREST_GRID, _bank, _fit_linear, nearest
from largeforge_router.config import load_router_config, read_labelled
from router_sets import ROOT, SETS

RESULTS = ROOT / "benchmarks" / "results" / "router_head_selection.json"
OUTER_FOLDS = 4
PREFERRED = (10.0, 0.0)


def measure(folder: Path, shuffles: list[int]) -> dict[str, Any]:
    """Outer-fold accuracy of the free choice, of the rule and of every fixed (C, nearest weight) pair."""
    config = load_router_config(folder / "router.yaml")
    experts = [e for e in config.experts if e.enabled]
    train = read_labelled(folder / "train.jsonl")
    extra = [(text, name) for name, texts in expert_texts(experts).items() for text in texts]
    pairs = [(c, w) for c in C_GRID for w in NEAREST_GRID]
    right = dict.fromkeys(pairs, 0)
    free_right, rule_right, total = 0, 0, 0
    free_pairs, rule_pairs = [], []
    for shuffle in shuffles:
        outer = StratifiedKFold(OUTER_FOLDS, shuffle=True, random_state=shuffle)
        for fit_at, test_at in outer.split(np.zeros(len(train)), [e for _, e in train]):
            fit, test = [train[i] for i in fit_at], [train[i] for i in test_at]
            heads = []
            for prefer in (None, PREFERRED):  # the second fit reuses the cached fine-tuning
                neural.TUNED_PREFERRED = prefer
                classifier = neural.NeuralClassifier(
                    experts=[e.name for e in experts],
                    fallback_expert=config.classifier.fallback_expert,
                    expert_texts=expert_texts(experts),
                    seed=shuffle,
                )
                classifier.train(fit)
                assert classifier.head is not None
                heads.append(classifier.head)
            labels = classifier.labels
            rows = fit + extra
            x, y = classifier.embed([t for t, _ in rows]), np.array([labels.index(e) for _, e in rows])
            xt, yt = classifier.embed([q for q, _ in test]), np.array([labels.index(e) for _, e in test])
            near = nearest(xt, *_bank(x, y, len(labels)))
            for c in C_GRID:
                weight, bias = _fit_linear(x, y, len(labels), c)
                linear = xt @ weight.T + bias
                for w in NEAREST_GRID:
                    right[(c, w)] += int(((linear + w * near).argmax(1) == yt).sum())
            free_pairs.append([heads[0].c, heads[0].nearest_weight])
            rule_pairs.append([heads[1].c, heads[1].nearest_weight])
            free_right += int((heads[0].scores(xt).argmax(1) == yt).sum())
            rule_right += int((heads[1].scores(xt).argmax(1) == yt).sum())
            total += len(test)
    return {
        "outer_queries": total,
        "free_choice": free_right / total,
        "free_choice_pairs": free_pairs,
        "rule": rule_right / total,
        "rule_pairs": rule_pairs,
        "fixed": {f"C={c},nearest={w}": right[(c, w)] / total for c, w in pairs},
    }


def main() -> None:
    """Measure every set with the full grids and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--shuffles", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    preferred = f"C={PREFERRED[0]},nearest={PREFERRED[1]}"
    neural.TUNED_C_GRID, neural.TUNED_NEAREST_GRID = C_GRID, NEAREST_GRID  # the full search
    load_before = os.getloadavg()
    results = {}
    for folder in args.sets:
        name = str(folder.resolve().relative_to(ROOT))
        m = results[name] = measure(folder, args.shuffles)
        best = max(m["fixed"].values())
        print(
            f"{name:<24} free choice {m['free_choice']:.3f}  rule {m['rule']:.3f}  fixed {preferred} "
            f"{m['fixed'][preferred]:.3f}  best fixed pair {best:.3f}",
            flush=True,
        )
    RESULTS.write_text(
        json.dumps(
            {
                "load_average": [load_before, os.getloadavg()],
                "preferred": preferred,
                "shuffles": args.shuffles,
                "sets": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
