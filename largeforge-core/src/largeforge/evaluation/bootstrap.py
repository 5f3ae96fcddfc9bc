"""Seeded bootstrap confidence intervals of eval figures from their per-row values.

Every figure of a model is resampled over the same row indices (one seeded draw per row count),
so the interval of a difference between two models scored on the same rows is a paired one.
The interval is the percentile interval of the resampled statistic (Efron's percentile method).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Resamples and confidence used unless a caller asks otherwise.
RESAMPLES = 1000
CONFIDENCE = 0.95


@lru_cache(maxsize=16)
def _draws(rows: int, resamples: int, seed: int) -> tuple[tuple[int, ...], ...]:
    """``resamples`` draws of ``rows`` row indices with replacement (cached: models share them)."""
    rng = random.Random(seed)
    return tuple(tuple(rng.randrange(rows) for _ in range(rows)) for _ in range(resamples))


@dataclass(frozen=True)
class Bootstrap:
    """Percentile intervals from ``resamples`` seeded resamples of the rows at ``confidence``."""

    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = 0

    def interval(self, statistic: Callable[[Sequence[int]], float], rows: int) -> list[float] | None:
        """``[low, high]`` of ``statistic`` (a function of the resampled row indices), or ``None``
        without rows."""
        if rows <= 0:
            return None
        values = sorted(statistic(draw) for draw in _draws(rows, self.resamples, self.seed))
        tail = (1 - self.confidence) / 2
        low = values[max(0, math.floor(tail * self.resamples))]
        high = values[min(self.resamples - 1, math.ceil((1 - tail) * self.resamples) - 1)]
        return [round(low, 4), round(high, 4)]

    def mean(self, values: Sequence[float]) -> list[float] | None:
        """Interval of the mean of ``values`` (a task metric's per-row scores)."""
        return self.interval(lambda draw: sum(values[i] for i in draw) / len(draw), len(values))

    def loss(self, losses: Sequence[float], tokens: Sequence[int]) -> list[float] | None:
        """Interval of the token-weighted mean loss of rows with mean ``losses`` over ``tokens`` each."""

        def weighted(draw: Sequence[int]) -> float:
            count = sum(tokens[i] for i in draw)
            return sum(losses[i] * tokens[i] for i in draw) / count if count else 0.0

        return self.interval(weighted, len(losses))

    def difference(self, before: Sequence[float], after: Sequence[float]) -> list[float] | None:
        """Paired interval of ``mean(after) - mean(before)`` over the same rows."""
        return self.mean([b - a for a, b in zip(before, after, strict=True)])
