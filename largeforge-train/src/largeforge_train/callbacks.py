"""Trainer callbacks: progress bar, JSONL log, save-best, early stopping, W&B."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from largeforge.cli.output import create_progress, err_console
from largeforge.utils.interrupt import clear_hint, command_line, set_hint
from largeforge.utils.logging import get_logger
from largeforge_train.checkpoints import PREFIX, CheckpointManager

logger = get_logger(__name__)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressCallback(TrainerCallback):
    """Training progress on stderr (main process only): a rich bar with loss, learning rate and
    ETA in a terminal; when stderr is not a terminal (a log file, CI), one plain line at the
    first step, every ``interval`` seconds and at the end: ``stage: step 12/100 (12%) loss 1.2345
    elapsed 0:01:23 eta 0:10:02``. The ETA comes from this session's steps, so it appears after
    the first step (rich's default estimate needs several steps within 30 s, which slow steps
    never give)."""

    def __init__(self, description: str = "training", *, interval: float = 30.0, stream: Any = None) -> None:
        self.description = description
        self.interval = interval
        self.stream = stream
        self.progress: Any = None
        self.task: Any = None
        self.plain = False
        self.loss: float | None = None
        self.reward: float | None = None  # GRPO's mean reward, when the trainer logs one
        self._started = 0.0
        self._first_step = 0
        self._printed = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._started, self._first_step = time.monotonic(), state.global_step
        self.plain = self.stream is not None or not err_console.is_terminal
        if self.plain:
            return
        self.progress = create_progress(speed_estimate_period=24 * 3600)
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=state.max_steps, completed=state.global_step)

    def eta(self, step: int, total: int) -> float | None:
        """Seconds left, from the pace of the steps done in this session (None before the first)."""
        done = step - self._first_step
        if done <= 0 or total <= 0:
            return None
        return (time.monotonic() - self._started) / done * max(total - step, 0)

    def line(self, step: int, total: int) -> str:
        """The plain progress line for ``step`` of ``total``."""
        eta = self.eta(step, total)
        loss = f" loss {self.loss:.4f}" if self.loss is not None else ""
        loss += f" reward {self.reward:.3f}" if self.reward is not None else ""
        percent = f" ({100 * step // total}%)" if total else ""
        return (
            f"{self.description}: step {step}/{total}{percent}{loss} elapsed "
            f"{_clock(time.monotonic() - self._started)} eta {_clock(eta) if eta is not None else '?'}"
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            return
        if not self.plain:
            return
        now = time.monotonic()
        last = state.global_step >= state.max_steps
        if state.global_step == self._first_step + 1 or last or now - self._printed >= self.interval:
            self._printed = now
            self._print(self.line(state.global_step, state.max_steps))

    def _print(self, text: str) -> None:
        stream = self.stream or sys.stderr
        print(text, file=stream, flush=True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or "loss" not in logs:
            return
        self.loss = float(logs["loss"])
        if "reward" in logs:
            self.reward = float(logs["reward"])
        if self.progress is None:
            return
        lr = logs.get("learning_rate", 0.0)
        reward = f" reward={self.reward:.3f}" if self.reward is not None else ""
        self.progress.update(self.task, description=f"{self.description} loss={logs['loss']:.4f}{reward} lr={lr:.2e}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class LoggingCallback(TrainerCallback):
    """Append every log event as one JSON line (timestamp, step, epoch, metrics) to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = {"timestamp": time.time(), "step": state.global_step, "epoch": state.epoch, **logs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=float) + "\n")


def _improved(value: float, best: float | None, greater_is_better: bool, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value > best + min_delta if greater_is_better else value < best - min_delta


class SaveBestModelCallback(TrainerCallback):
    """Save the model to ``output_dir/best`` whenever the evaluation metric improves.

    ``patience`` > 0 also stops training after that many evaluations without improvement.
    """

    def __init__(
        self, output_dir: str | Path, metric: str = "eval_loss", greater_is_better: bool = False, patience: int = 0
    ) -> None:
        self.output_dir = Path(output_dir)
        self.metric, self.greater_is_better, self.patience = metric, greater_is_better, patience
        self.best: float | None = None
        self.bad_evals = 0

    def on_evaluate(
        self,
        args: Any,
        state: Any,
        control: Any,
        metrics: dict[str, float] | None = None,
        model: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ) -> None:
        value = (metrics or {}).get(self.metric)
        if value is None or math.isnan(value):
            return
        if _improved(value, self.best, self.greater_is_better):
            self.best, self.bad_evals = value, 0
            if state.is_world_process_zero and model is not None:
                model.save_pretrained(self.output_dir)
                if processing_class is not None:
                    processing_class.save_pretrained(self.output_dir)
                logger.info(
                    "new best %s=%.4f at step %d: saved to %s", self.metric, value, state.global_step, self.output_dir
                )
        else:
            self.bad_evals += 1
            if self.patience and self.bad_evals >= self.patience:
                control.should_training_stop = True


class EarlyStoppingCallback(TrainerCallback):
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` evaluations."""

    def __init__(
        self, patience: int = 3, metric: str = "eval_loss", greater_is_better: bool = False, min_delta: float = 0.0
    ) -> None:
        self.patience, self.metric = patience, metric
        self.greater_is_better, self.min_delta = greater_is_better, min_delta
        self.best: float | None = None
        self.bad_evals = 0
        self.stopped_at: int | None = None

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        value = (metrics or {}).get(self.metric)
        if value is None:
            return
        if _improved(value, self.best, self.greater_is_better, self.min_delta):
            self.best, self.bad_evals = value, 0
            return
        self.bad_evals += 1
        if self.bad_evals >= self.patience:
            logger.info(
                "early stopping at step %d: %s has not improved for %d evaluations",
                state.global_step,
                self.metric,
                self.patience,
            )
            self.stopped_at = state.global_step
            control.should_training_stop = True


def WandBCallback(**init_kwargs: Any) -> TrainerCallback | None:
    """transformers' W&B integration when ``wandb`` is installed, else ``None`` with a warning."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        logger.warning("wandb is not installed (pip install 'largeforge-train[wandb]'); not logging to W&B")
        return None
    from transformers.integrations import WandbCallback  # heavy: imported where used

    return WandbCallback(**init_kwargs)


def _resume_advice() -> str:
    if len(sys.argv) > 1 and "forge" in sys.argv[1:3]:
        return f"run `{command_line()}` again: the stage resumes from it"
    return f"resume with `{command_line('--resume')}`"


class CheckpointCallback(TrainerCallback):
    """Marks each ``checkpoint-{step}`` complete once the Trainer has saved it, then rotates.

    It also keeps the Ctrl+C hint current (:mod:`largeforge.utils.interrupt`): which checkpoint
    an interruption keeps and the command that resumes from it."""

    def __init__(self, manager: CheckpointManager) -> None:
        self.manager = manager

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and not state.global_step:
            every = f"every {args.save_steps} steps" if args.save_strategy != "no" else "checkpoints are off"
            set_hint("training", f"nothing kept yet in {args.output_dir} (no checkpoint so far; {every})")

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX}-{state.global_step}"
        if folder.is_dir():
            last = state.log_history[-1] if state.log_history else {}
            self.manager.mark_complete(folder, {k: v for k, v in last.items() if isinstance(v, (int, float))})
            self.manager.cleanup_old_checkpoints()
            set_hint("training", f"kept: {folder} (step {state.global_step} of {state.max_steps}); {_resume_advice()}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        clear_hint("training")
