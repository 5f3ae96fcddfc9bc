"""The neural router's head: a regularised linear model plus nearest-example evidence, its
hyperparameters chosen by cross-validation and its confidence calibrated on the held-out folds.

Scores for expert ``k`` and a normalised embedding ``x``::

    z_k(x) = w_k·x + b_k  +  nearest_weight · max_{e in examples of k} cos(x, e)
    p(k | x) = softmax(z(x) / temperature)_k

``w, b`` are a multinomial logistic regression (scikit-learn, L2 penalty ``1/C``) fitted with
balanced sample weights, so every expert weighs the same whatever its number of examples.
``C`` and ``nearest_weight`` are picked by stratified k-fold cross-validation over the labelled
queries (accuracy first, then the log-loss of the calibrated fold predictions), or fixed by the
caller (the fine-tuned classifier does: its few folds are too noisy to choose among twenty
pairs, see :mod:`largeforge_router.classifiers.neural`); ``temperature``
minimises that log-loss on the out-of-fold scores, so a confidence of 0.6 means "right about 60%
of the time". The out-of-fold scores are kept (:attr:`LinearHead.validation`) so that a hybrid
classifier can fit its own combination on the same held-out folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    #: the embeddings of every row for a fold whose training side is the boolean mask ``keep``
    FoldEmbeddings = Callable[[np.ndarray], np.ndarray]

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
NEAREST_GRID = (0.0, 2.0, 5.0, 10.0)
FOLDS = 5
#: Cross-validation is repeated with this many shuffles, so one lucky split does not decide.
REPEATS = 3
#: Used when there are too few labelled queries per expert to cross-validate.
DEFAULT_C, DEFAULT_NEAREST, DEFAULT_TEMPERATURE = 10.0, 5.0, 1.0


@dataclass
class Validation:
    """Out-of-fold raw scores of the chosen head for the labelled queries held out in turn."""

    #: indices (into the training rows) of the held-out queries (each query once per repeat)
    rows: np.ndarray
    #: raw scores ``z`` (n_rows × n_labels), before the temperature
    scores: np.ndarray
    #: true label index of each row
    targets: np.ndarray


@dataclass
class LinearHead:
    """A fitted head: linear weights, the example bank for nearest-example evidence, the
    temperature, the chosen hyperparameters and the cross-validation it came from."""

    labels: list[str]
    weight: np.ndarray  # (n_labels, dim)
    bias: np.ndarray  # (n_labels,)
    examples: np.ndarray  # (n_examples, dim), grouped by label
    offsets: np.ndarray  # start of each label's examples in ``examples``
    nearest_weight: float
    temperature: float
    c: float
    cv_accuracy: float | None = None
    validation: Validation | None = None

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Raw scores ``z`` for a batch of normalised embeddings (rows follow :attr:`labels`)."""
        z = x @ self.weight.T + self.bias
        if self.nearest_weight:
            z = z + self.nearest_weight * nearest(x, self.examples, self.offsets)
        return z

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of every label for a batch of embeddings."""
        return softmax(self.scores(x) / self.temperature)


#: The arrays a saved head is made of (with its labels and settings kept beside them as JSON).
HEAD_ARRAYS = ("weight", "bias", "examples", "offsets")


def head_arrays(head: LinearHead) -> dict[str, np.ndarray]:
    """The arrays of ``head`` to save (see :func:`head_from_arrays`)."""
    return {name: getattr(head, name) for name in HEAD_ARRAYS}


def head_from_arrays(
    arrays: Mapping[str, np.ndarray],
    labels: Sequence[str],
    *,
    nearest_weight: float,
    temperature: float,
    c: float,
    cv_accuracy: float | None = None,
    validation: Validation | None = None,
) -> LinearHead:
    """A saved head back from its arrays (:func:`head_arrays`), labels and settings."""
    return LinearHead(
        labels=list(labels),
        **{name: arrays[name] for name in HEAD_ARRAYS},
        nearest_weight=float(nearest_weight),
        temperature=float(temperature),
        c=float(c),
        cv_accuracy=cv_accuracy,
        validation=validation,
    )


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_loss(z: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of ``targets`` under ``softmax(z)``."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(targets)), targets].mean())


def fit_temperature(z: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the log-loss of ``softmax(z / T)`` (temperature scaling)."""
    from scipy.optimize import minimize_scalar  # heavy: imported where used

    if len(targets) == 0:
        return DEFAULT_TEMPERATURE
    found = minimize_scalar(lambda t: log_loss(z / t, targets), bounds=(0.05, 20.0), method="bounded")
    return float(found.x)


def nearest(x: np.ndarray, examples: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``x`` to the closest example of each label."""
    return np.maximum.reduceat(x @ examples.T, offsets, axis=1)


def balanced_weights(y: np.ndarray, n_labels: int) -> np.ndarray:
    """Sample weights giving every label the same total weight (mean weight 1)."""
    counts = np.bincount(y, minlength=n_labels).astype(float)
    present = int((counts > 0).sum())
    return len(y) / (present * counts[y])


def _fit_linear(x: np.ndarray, y: np.ndarray, n_labels: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression  # heavy: imported where used

    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(x, y, sample_weight=balanced_weights(y, n_labels))
    weight = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -1e4, dtype=np.float32)  # a label absent from this fit never wins
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # scikit-learn keeps one row, class 1 against class 0: split it
        coef, intercept = np.stack([-coef[0], coef[0]]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    weight[model.classes_] = coef
    bias[model.classes_] = intercept
    return weight, bias


def _bank(x: np.ndarray, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y, minlength=n_labels)
    if (counts == 0).any():
        raise ValueError("every label needs at least one example")
    return x[order], np.concatenate([[0], np.cumsum(counts)[:-1]])


def _clearly_better(best: np.ndarray, preferred: np.ndarray, targets: np.ndarray, repeats: int) -> bool:
    """Whether the held-out scores ``best`` beat ``preferred`` by more than one standard error of
    the per-query difference in correctness (each query averaged over the ``repeats``)."""
    gain = ((best.argmax(1) == targets).astype(float) - (preferred.argmax(1) == targets)).reshape(repeats, -1).mean(0)
    if len(gain) < 2:
        return bool(gain.mean() > 0)
    return bool(gain.mean() > gain.std(ddof=1) / np.sqrt(len(gain)))


def fit_head(
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    queries: np.ndarray,
    seed: int = 0,
    fold_embeddings: FoldEmbeddings | None = None,
    folds: int = FOLDS,
    repeats: int = REPEATS,
    c_grid: Sequence[float] = C_GRID,
    nearest_grid: Sequence[float] = NEAREST_GRID,
    prefer: tuple[float, float] | None = None,
) -> LinearHead:
    """Fit a head on embeddings ``x`` with label indices ``y``.

    ``queries`` marks the rows that are labelled queries (the others, such as descriptions and
    keywords, always stay on the training side of a fold): cross-validation holds out queries
    only, because queries are what the head will be asked about. When the embeddings were
    themselves learnt from the rows (a fine-tuned encoder), ``fold_embeddings(keep)`` gives each
    fold the embeddings of an encoder that never saw its held-out queries, so the fold scores,
    and the temperature fitted on them, stay honest.
    """
    from threadpoolctl import threadpool_limits  # heavy: imported where used

    # One BLAS/OpenMP thread: these fits are small, and on a shared CPU a thread pool made each
    # one 50-100x slower here (0.02 s → 1-3 s per fit at load average 15).
    with threadpool_limits(limits=1):
        return _fit_head(
            x,
            y,
            labels,
            queries=queries,
            seed=seed,
            fold_embeddings=fold_embeddings,
            max_folds=folds,
            repeats=repeats,
            c_grid=tuple(c_grid),
            nearest_grid=tuple(nearest_grid),
            prefer=prefer,
        )


def _fit_head(
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    queries: np.ndarray,
    seed: int,
    fold_embeddings: FoldEmbeddings | None,
    max_folds: int,
    repeats: int,
    c_grid: tuple[float, ...],
    nearest_grid: tuple[float, ...],
    prefer: tuple[float, float] | None,
) -> LinearHead:
    from sklearn.model_selection import StratifiedKFold  # heavy: imported where used

    n_labels = len(labels)
    query_rows = np.flatnonzero(queries)
    query_counts = np.bincount(y[query_rows], minlength=n_labels)
    folds = min(max_folds, int(query_counts[query_counts > 0].min())) if len(query_rows) else 0
    single = len(c_grid) == 1 and len(nearest_grid) == 1
    c = c_grid[0] if single else DEFAULT_C
    near_w = nearest_grid[0] if single else DEFAULT_NEAREST
    temperature, cv_accuracy, validation = DEFAULT_TEMPERATURE, None, None
    if folds >= 2:
        n = len(query_rows)
        linear = {value: np.zeros((repeats * n, n_labels)) for value in c_grid}
        near = np.zeros((repeats * n, n_labels))
        for repeat in range(repeats):
            splitter = StratifiedKFold(folds, shuffle=True, random_state=seed + repeat)
            for _, test_q in splitter.split(query_rows, y[query_rows]):
                keep = np.ones(len(y), dtype=bool)
                keep[query_rows[test_q]] = False
                xf = x if fold_embeddings is None else fold_embeddings(keep)
                held, at = xf[query_rows[test_q]], repeat * n + test_q
                for value in c_grid:
                    weight, bias = _fit_linear(xf[keep], y[keep], n_labels, value)
                    linear[value][at] = held @ weight.T + bias
                near[at] = nearest(held, *_bank(xf[keep], y[keep], n_labels))
        query_rows = np.tile(query_rows, repeats)
        targets = y[query_rows]
        fits = {}
        for value in c_grid:
            for w in nearest_grid:
                z = linear[value] + w * near
                t = fit_temperature(z, targets)
                fits[(value, w)] = (z, t, (float((z.argmax(1) == targets).mean()), -log_loss(z / t, targets)))
        chosen = max(fits, key=lambda pair: fits[pair][2])
        if prefer in fits and not _clearly_better(fits[chosen][0], fits[prefer][0], targets, repeats):
            chosen = prefer
        (c, near_w), (z, temperature, (cv_accuracy, _)) = chosen, fits[chosen]
        validation = Validation(rows=query_rows, scores=z, targets=targets)
    weight, bias = _fit_linear(x, y, n_labels, c)
    examples, offsets = _bank(x, y, n_labels)
    return LinearHead(
        labels=list(labels),
        weight=weight,
        bias=bias,
        examples=examples,
        offsets=offsets,
        nearest_weight=near_w,
        temperature=temperature,
        c=c,
        cv_accuracy=cv_accuracy,
        validation=validation,
    )
