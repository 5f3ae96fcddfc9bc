"""The output directory of a training run: resuming from its latest complete checkpoint (the JSONL
log trimmed to match), or refusing to mix a new run with an earlier one unless told to replace it."""

from __future__ import annotations

import shutil
from pathlib import Path

from largeforge.utils.logging import get_logger
from largeforge_train.checkpoints import CheckpointManager
from largeforge_train.errors import TrainingError
from largeforge_train.train_log import LOG_FILE, checkpoint_step, trim_log

logger = get_logger(__name__)


def resume_checkpoint(checkpoints: CheckpointManager, resume: bool | str, overwrite: bool) -> str | None:
    """The checkpoint to resume from (``resume``: True for the latest, or a checkpoint path), or
    ``None`` for a fresh run, which first checks the directory holds no earlier run."""
    output_dir = checkpoints.output_dir
    if not resume:
        check_fresh_output(output_dir, overwrite)
        return None
    checkpoints.discard_incomplete()
    if isinstance(resume, str):
        if not CheckpointManager.is_complete(resume):
            raise TrainingError(f"{resume}: not a complete checkpoint")
        return resume
    latest = checkpoints.get_latest_checkpoint()
    log = Path(output_dir) / LOG_FILE
    if latest is None:
        logger.warning("--resume: no complete checkpoint in %s; starting from scratch", output_dir)
        trim_log(log, 0)  # the killed run's rows would precede this run's steps 1, 2, ...
    else:
        logger.info("resuming from %s", latest)
        trim_log(log, checkpoint_step(latest))  # steps after the checkpoint are trained again
    return latest


def check_fresh_output(output_dir: str | Path, overwrite: bool) -> None:
    """A new run must not mix its checkpoints and log with an earlier run's in ``output_dir``:
    a one-line error, or (``overwrite``) the earlier run's checkpoints and log removed."""
    out = Path(output_dir)
    leftovers = [p for p in out.glob("checkpoint-*") if p.is_dir()] + [p for p in [out / LOG_FILE] if p.exists()]
    if not leftovers:
        return
    if not overwrite:
        raise TrainingError(
            f"{out} holds an earlier run ({leftovers[0].name}): pass --resume to continue it "
            "or --overwrite to start over"
        )
    for path in leftovers:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
