"""Checkpoints that survive a kill at any moment.

The Trainer writes ``checkpoint-{step}`` folders (safetensors weights or adapter, optimizer,
scheduler, RNG and ``trainer_state.json``). A folder counts only once it holds the ``COMPLETE``
marker, written atomically after everything else; a process killed mid-save leaves an unmarked
folder that :meth:`CheckpointManager.discard_incomplete` removes before resuming. Rotation
(``save_total_limit``) happens here, after the marker, so the last complete checkpoint is never
deleted before its successor is complete.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from largeforge.utils.io import atomic_write
from largeforge.utils.logging import get_logger
from largeforge_train.lora import is_adapter_dir, load_merged

logger = get_logger(__name__)
PREFIX = "checkpoint"
MARKER = "COMPLETE"
_STEP = re.compile(rf"^{PREFIX}-(\d+)$")


def _step(path: Path) -> int:
    match = _STEP.match(path.name)
    return int(match.group(1)) if match else -1


class CheckpointManager:
    """Lists, marks, rotates, saves and loads ``checkpoint-{step}`` folders of ``output_dir``."""

    def __init__(self, output_dir: str | Path, save_total_limit: int | None = 3) -> None:
        self.output_dir = Path(output_dir)
        self.save_total_limit = save_total_limit

    def _folders(self) -> list[Path]:
        if not self.output_dir.is_dir():
            return []
        return sorted((p for p in self.output_dir.iterdir() if p.is_dir() and _STEP.match(p.name)), key=_step)

    @staticmethod
    def is_complete(path: str | Path) -> bool:
        """Whether the checkpoint at ``path`` was written to the end."""
        return (Path(path) / MARKER).is_file()

    def list_checkpoints(self) -> list[str]:
        """Complete checkpoints, oldest first."""
        return [str(p) for p in self._folders() if self.is_complete(p)]

    def get_latest_checkpoint(self) -> str | None:
        """The complete checkpoint with the highest step, or ``None``."""
        checkpoints = self.list_checkpoints()
        return checkpoints[-1] if checkpoints else None

    def mark_complete(self, path: str | Path, metrics: dict[str, Any] | None = None) -> None:
        """Write the marker (atomically) that makes ``path`` a usable checkpoint."""
        payload = {"step": _step(Path(path)), "time": time.time(), "metrics": metrics or {}}
        atomic_write(Path(path) / MARKER, json.dumps(payload))

    def discard_incomplete(self) -> list[str]:
        """Delete checkpoint folders a killed process left half-written; returns their paths."""
        removed = [str(p) for p in self._folders() if not self.is_complete(p)]
        for path in removed:
            logger.warning("removing incomplete checkpoint %s", path)
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def cleanup_old_checkpoints(self) -> list[str]:
        """Keep only the newest ``save_total_limit`` complete checkpoints; returns removed paths."""
        if not self.save_total_limit:
            return []
        complete = self.list_checkpoints()
        removed = complete[: max(0, len(complete) - self.save_total_limit)]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def save_checkpoint(self, model: Any, tokenizer: Any, step: int, metrics: dict[str, Any] | None = None) -> str:
        """Save ``model`` (safetensors) and ``tokenizer`` as ``checkpoint-{step}`` outside a Trainer.

        Written into a temporary folder and renamed, then marked and rotated.
        """
        final = self.output_dir / f"{PREFIX}-{step}"
        tmp = self.output_dir / f".{PREFIX}-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        atomic_write(tmp / "trainer_state.json", json.dumps({"global_step": step, "log_history": [metrics or {}]}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        self.mark_complete(final, metrics)
        self.cleanup_old_checkpoints()
        return str(final)

    def load_checkpoint(self, checkpoint_path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
        """(model, tokenizer, trainer state) of a checkpoint; LoRA checkpoints load onto their base."""
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: imported where used

        path = Path(checkpoint_path)
        model = load_merged(path) if is_adapter_dir(path) else AutoModelForCausalLM.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path) if (path / "tokenizer_config.json").is_file() else None
        state_file = path / "trainer_state.json"
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        return model, tokenizer, state
