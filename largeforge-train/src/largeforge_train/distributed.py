"""Training under several processes (``accelerate launch`` / torchrun): counting them, resuming
their optimizer on a CPU, a warning for a launch that started one process, and leaving the
process group cleanly."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from largeforge_train.precision import warn_once
from largeforge_train.run_length import processes

__all__ = ["leave_process_group", "load_optimizer_on_cpu", "processes", "warn_single_cpu_launch"]


def load_optimizer_on_cpu(trainer: Any) -> None:
    """Resuming several CPU processes: transformers loads the optimizer state onto ``args.device``,
    ``cpu:0`` under DDP on a CPU, where ``torch.load`` cannot restore ("don't know how to restore
    data location ... cpu:0"). Load it onto the CPU instead, for that one call."""
    import torch  # heavy: only when a trainer resumes

    original = trainer._load_optimizer_and_scheduler
    real_load = torch.load

    def cpu_load(*args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("map_location", "")).startswith("cpu:"):
            kwargs["map_location"] = "cpu"
        return real_load(*args, **kwargs)

    def load(checkpoint: Any) -> Any:
        torch.load = cpu_load
        try:
            return original(checkpoint)
        finally:
            torch.load = real_load

    trainer._load_optimizer_and_scheduler = load


def warn_single_cpu_launch() -> str | None:
    """Warn when ``accelerate launch --cpu --num_processes N`` (N > 1) started this one process:
    accelerate 1.x starts several CPU processes only through mpirun, so the run would silently
    be a single-process one. Returns the warning (``None`` when there is nothing to say)."""
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() != "true" or processes() > 1:
        return None
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    match = re.search(r"--num_processes[ =](\d+)", parent)
    if "accelerate" not in parent or not match or int(match.group(1)) < 2:
        return None
    message = (
        f"accelerate launch --cpu --num_processes {match.group(1)} started one process (accelerate runs "
        f"several CPU processes only through mpirun): on a CPU use `accelerate launch --multi_gpu "
        f"--num_processes {match.group(1)}`, which LargeForge trains over gloo"
    )
    warn_once(message)
    return message


def leave_process_group() -> None:
    """Under ``accelerate launch`` with several processes, shut the process group down before the
    interpreter exits: left to exit, gloo's threads were destroyed while still running
    ("terminate called without an active exception", the rank killed by SIGABRT after finishing)."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist  # torch is loaded already (checked above)

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
