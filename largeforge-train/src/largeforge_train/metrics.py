"""Training metrics: perplexity, token accuracy, DPO rewards, a running tracker."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from largeforge.errors import ConfigError


def perplexity(loss: float) -> float:
    """``exp(loss)``, capped so a diverged run reports ``inf`` rather than overflowing."""
    return math.exp(loss) if loss < 700 else float("inf")


def token_accuracy(predictions: Any, labels: Any, ignore_index: int = -100) -> float:
    """Share of next-token predictions equal to the label, over positions not ignored.

    ``predictions`` are predicted ids (or logits, reduced with argmax) aligned with ``labels``
    as a causal LM outputs them: the prediction at ``t`` is for the label at ``t + 1``.
    """
    import numpy as np

    preds = np.asarray(predictions)
    if preds.ndim == np.asarray(labels).ndim + 1:
        preds = preds.argmax(-1)
    preds, gold = preds[..., :-1], np.asarray(labels)[..., 1:]
    mask = gold != ignore_index
    return float((preds[mask] == gold[mask]).mean()) if mask.any() else 0.0


def preprocess_logits_for_metrics(logits: Any, labels: Any) -> Any:
    """Keep only argmax ids during evaluation, so the Trainer does not hoard full logits."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(-1)


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """``Trainer.compute_metrics``: token-level accuracy (perplexity comes from ``eval_loss``)."""
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    return {"accuracy": token_accuracy(predictions, labels)}


def compute_dpo_metrics(chosen_rewards: Any, rejected_rewards: Any) -> dict[str, float]:
    """Mean chosen and rejected rewards, their margin, and how often chosen wins."""
    import torch  # heavy: imported where used

    chosen, rejected = torch.as_tensor(chosen_rewards).float(), torch.as_tensor(rejected_rewards).float()
    return {
        "chosen_rewards": chosen.mean().item(),
        "rejected_rewards": rejected.mean().item(),
        "reward_margin": (chosen - rejected).mean().item(),
        "reward_accuracy": (chosen > rejected).float().mean().item(),
    }


def add_perplexity(metrics: dict[str, float]) -> dict[str, float]:
    """Add ``perplexity`` / ``eval_perplexity`` next to ``train_loss`` / ``loss`` / ``eval_loss``."""
    out = dict(metrics)
    for loss_key, ppl_key in (("train_loss", "perplexity"), ("eval_loss", "eval_perplexity")):
        if loss_key in out:
            out[ppl_key] = perplexity(float(out[loss_key]))
    return out


class MetricsTracker:
    """Accumulates metric values across updates: averages and best values."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = defaultdict(list)

    def update(self, metrics: dict[str, float]) -> None:
        """Record every numeric value of ``metrics``."""
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.history[key].append(float(value))

    def get_average(self) -> dict[str, float]:
        """The mean of every metric seen."""
        return {key: sum(values) / len(values) for key, values in self.history.items() if values}

    def get_best(self, metric: str, mode: str = "min") -> float:
        """The lowest (``mode="min"``) or highest (``"max"``) value of ``metric``."""
        if mode not in ("min", "max"):
            raise ConfigError(f"mode {mode!r}: expected 'min' or 'max'")
        if not self.history.get(metric):
            raise KeyError(f"no values recorded for {metric!r}")
        return min(self.history[metric]) if mode == "min" else max(self.history[metric])

    def reset(self) -> None:
        """Forget everything."""
        self.history.clear()


def format_metrics(metrics: dict[str, float]) -> str:
    """``key=value`` pairs rounded to 4 decimals, for logs."""
    parts = []
    for key, value in metrics.items():
        parts.append(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
