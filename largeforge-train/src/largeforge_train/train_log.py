"""The JSONL training log of a run (``train_log.jsonl``) and what is read from a Trainer's log
history: the mean loss of a resumed run and the method's own metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from largeforge.utils.io import atomic_write

LOG_FILE = "train_log.jsonl"
#: Logged metrics of a method's own signal, kept in the result from the last training log (TRL
#: averages them over each logging window and leaves them out of the end-of-training summary).
METHOD_METRIC_PREFIXES = ("rewards/", "logps/", "logits/")
METHOD_METRIC_NAMES = frozenset({"kl", "nll_loss", "log_odds_ratio", "log_odds_chosen", "reward", "reward_std"})


def checkpoint_step(checkpoint: str | Path) -> int:
    """The global step of a ``checkpoint-N`` folder."""
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def trim_log(path: Path, last_step: int) -> None:
    """Drop the rows of the JSONL log at ``path`` after ``last_step`` (all rows for 0)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= last_step]
    if len(kept) != len(rows):
        atomic_write(path, "".join(f"{line}\n" for line in kept))


def mean_logged_loss(log_history: list[dict[str, Any]]) -> float | None:
    """The run's mean training loss from its logged ``loss`` values, each weighing the steps
    since the previous log (the whole run's, checkpointed history included); None without any."""
    total = steps = 0.0
    previous = 0
    for entry in log_history:
        if "loss" not in entry or "step" not in entry:
            continue
        span = max(int(entry["step"]) - previous, 0)
        total += float(entry["loss"]) * span
        steps += span
        previous = int(entry["step"])
    return total / steps if steps else None


def last_method_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The method's metrics (reward margins, KL, ...) of the last training log entry."""
    last: dict[str, Any] = next((entry for entry in reversed(log_history) if "loss" in entry), {})
    return {
        k: float(v)
        for k, v in last.items()
        if isinstance(v, int | float) and (k in METHOD_METRIC_NAMES or k.startswith(METHOD_METRIC_PREFIXES))
    }


def read_log(output_dir: str | Path) -> list[dict[str, Any]]:
    """The JSONL training log of a run, one dict per log event."""
    path = Path(output_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
