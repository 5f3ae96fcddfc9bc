"""Metrics, the tracker and the callbacks' decisions, driven with real TrainerState/Control."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from largeforge_train.callbacks import EarlyStoppingCallback, LoggingCallback, SaveBestModelCallback, WandBCallback
from largeforge_train.metrics import (
    MetricsTracker,
    add_perplexity,
    compute_dpo_metrics,
    format_metrics,
    perplexity,
    token_accuracy,
)


def test_perplexity_and_token_accuracy():
    assert perplexity(0.0) == 1.0 and perplexity(math.log(5)) == pytest.approx(5)
    assert perplexity(1000) == float("inf")
    labels = np.array([[-100, 5, 6, 7]])
    preds = np.array([[5, 6, 0, 9]])  # predicts 5 and 6 right, 7 wrong
    assert token_accuracy(preds, labels) == pytest.approx(2 / 3)
    logits = np.eye(10)[preds]  # the same predictions as logits
    assert token_accuracy(logits, labels) == pytest.approx(2 / 3)
    assert add_perplexity({"train_loss": 0.0, "eval_loss": math.log(2)}) == {
        "train_loss": 0.0,
        "eval_loss": math.log(2),
        "perplexity": 1.0,
        "eval_perplexity": pytest.approx(2.0),
    }


def test_dpo_metrics():
    m = compute_dpo_metrics([1.0, 0.5, -1.0], [0.0, 1.0, -2.0])
    assert m["reward_margin"] == pytest.approx((1 - 0.5 + 1) / 3)
    assert m["reward_accuracy"] == pytest.approx(2 / 3)
    assert m["chosen_rewards"] == pytest.approx(1 / 6)


def test_metrics_tracker():
    tracker = MetricsTracker()
    tracker.update({"loss": 2.0, "acc": 0.5, "flag": True})
    tracker.update({"loss": 1.0, "acc": 0.7})
    assert tracker.get_average() == {"loss": 1.5, "acc": pytest.approx(0.6)}
    assert tracker.get_best("loss") == 1.0 and tracker.get_best("acc", mode="max") == 0.7
    with pytest.raises(KeyError):
        tracker.get_best("missing")
    tracker.reset()
    assert tracker.get_average() == {}
    assert format_metrics({"loss": 1.234567, "step": 3}) == "loss=1.2346 step=3"


def _state(step: int) -> TrainerState:
    state = TrainerState()
    state.global_step = step
    return state


def test_early_stopping_after_patience():
    callback = EarlyStoppingCallback(patience=2)
    control = TrainerControl()
    for step, loss in enumerate([1.0, 0.8, 0.9, 0.85]):
        callback.on_evaluate(None, _state(step), control, metrics={"eval_loss": loss})
    assert control.should_training_stop and callback.stopped_at == 3
    control = TrainerControl()
    improving = EarlyStoppingCallback(patience=2)
    for step, loss in enumerate([1.0, 0.9, 0.8]):
        improving.on_evaluate(None, _state(step), control, metrics={"eval_loss": loss})
    assert not control.should_training_stop


class _Saver:
    def __init__(self) -> None:
        self.saved: list[str] = []

    def save_pretrained(self, path) -> None:
        self.saved.append(str(path))


def test_save_best_saves_only_on_improvement(tmp_path):
    callback = SaveBestModelCallback(tmp_path / "best", metric="eval_accuracy", greater_is_better=True)
    model = _Saver()
    for acc in [0.5, 0.4, 0.6, 0.6]:
        callback.on_evaluate(None, _state(1), TrainerControl(), metrics={"eval_accuracy": acc}, model=model)
    assert len(model.saved) == 2 and callback.best == 0.6


def test_logging_callback_writes_jsonl(tmp_path):
    callback = LoggingCallback(tmp_path / "log.jsonl")
    state = _state(4)
    state.epoch = 0.5
    callback.on_log(TrainingArguments(output_dir=str(tmp_path)), state, TrainerControl(), logs={"loss": 1.5})
    record = json.loads((tmp_path / "log.jsonl").read_text())
    assert record["step"] == 4 and record["loss"] == 1.5 and record["epoch"] == 0.5 and "timestamp" in record


def test_wandb_is_optional():
    import importlib.util

    callback = WandBCallback()
    assert (callback is None) == (importlib.util.find_spec("wandb") is None)
