"""Runs too short to learn: count the optimizer steps a config makes on a dataset, fit the
gradient accumulation to small data, and say in one line what to change.

The spec's defaults (batch 4, accumulation 4, LoRA on ``q_proj``/``v_proj``) suit thousands of rows.
On a small set they make a handful of optimizer steps: 91 rows at batch 8 × accumulation 4 for 2
epochs is 6 steps, and the model learns nothing. The rule, applied by ``largeforge
train`` when the accumulation is not set (flag or config file): keep the spec's accumulation when
the run makes at least :data:`MIN_STEPS` optimizer steps with it, else take the largest
accumulation that does (down to 1). Set ``gradient_accumulation_steps`` to opt out.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

#: Fewer optimizer steps than this rarely move a LoRA adapter on a small set.
MIN_STEPS = 20
#: LoRA on the attention projections alone (the spec's default) also needs a longer run.
ATTENTION_ONLY = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})
MIN_STEPS_ATTENTION_ONLY = 50


def processes() -> int:
    """Training processes (``accelerate launch`` / torchrun set ``WORLD_SIZE``)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


@dataclass(frozen=True)
class RunLength:
    """How long a run is: ``rows`` examples at the config's batch, accumulation and epochs."""

    rows: int
    batch: int
    accumulation: int
    epochs: int
    max_steps: int = -1
    processes: int = 1

    @classmethod
    def of(cls, rows: int, config: Any, accumulation: int | None = None) -> RunLength:
        return cls(
            rows,
            config.per_device_train_batch_size,
            accumulation or config.gradient_accumulation_steps,
            config.num_train_epochs,
            config.max_steps,
            processes(),
        )

    @property
    def batches_per_epoch(self) -> int:
        return max(math.ceil(self.rows / (self.batch * self.processes)), 1)

    @property
    def optimizer_steps(self) -> int:
        """As transformers counts them: a partial accumulation at an epoch's end is a step too."""
        if self.max_steps > 0:
            return self.max_steps
        return math.ceil(self.batches_per_epoch / self.accumulation) * self.epochs


def fit_accumulation(rows: int, config: Any) -> int:
    """The gradient accumulation for ``rows`` examples by the rule above (the config's when it
    already gives :data:`MIN_STEPS` optimizer steps, or ``max_steps`` is set)."""
    current = config.gradient_accumulation_steps
    if config.max_steps > 0 or RunLength.of(rows, config).optimizer_steps >= MIN_STEPS:
        return int(current)
    for accumulation in range(current - 1, 0, -1):
        if RunLength.of(rows, config, accumulation).optimizer_steps >= MIN_STEPS:
            return accumulation
    return 1


def short_run_warning(
    rows: int, config: Any, lora_targets: Any = None, tokens_per_example: float | None = None, method: str = "sft"
) -> str | None:
    """One line saying what to change when the run is too short to learn, else ``None``.

    ``lora_targets`` are the resolved LoRA target modules (``None`` without LoRA);
    ``tokens_per_example`` the trained tokens of an example (the preflight's sample mean)."""
    run = RunLength.of(rows, config)
    attention_only = isinstance(lora_targets, (list, tuple, set)) and set(lora_targets) <= ATTENTION_ONLY
    needed = MIN_STEPS_ATTENTION_ONLY if attention_only else MIN_STEPS
    if config.max_steps > 0 or run.optimizer_steps >= needed:
        return None
    per_step = run.batch * run.accumulation * run.processes
    tokens = f", about {round(per_step * tokens_per_example)} trained tokens a step" if tokens_per_example else ""
    changes = []
    steps = run.optimizer_steps
    fitted = fit_accumulation(rows, config)
    if fitted < run.accumulation:
        steps = RunLength.of(rows, config, fitted).optimizer_steps
        changes.append(f"--gradient-accumulation {fitted} ({steps} steps)")
    if steps < MIN_STEPS:
        epochs = min(math.ceil(config.num_train_epochs * MIN_STEPS / max(steps, 1)), 100)
        changes.append(f"--num-epochs {epochs}")
    if attention_only:
        changes.append(f"--lora-target-modules all-linear (LoRA is on {', '.join(sorted(lora_targets))} only)")
    return (
        f"this {method} run makes only {run.optimizer_steps} optimizer steps ({rows} rows, {run.batch} a step × "
        f"accumulation {run.accumulation} × {run.processes} process(es), {run.epochs} epoch(s){tokens}): "
        f"too few to learn; use " + ", ".join(changes)
    )
