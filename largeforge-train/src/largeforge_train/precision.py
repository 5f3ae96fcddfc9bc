"""Training precision that follows the device: bf16 only where the device has it natively, fp16
only on CUDA, otherwise fp32; each fallback reported once per process."""

from __future__ import annotations

from typing import Any

from largeforge.config import TrainingConfig
from largeforge.utils.device import is_bf16_supported
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)
_WARNED: set[str] = set()  # messages already reported in this process


def warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time it comes up in this process."""
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


def resolve_precision(config: TrainingConfig) -> tuple[bool, bool]:
    """(bf16, fp16) as the device allows: bf16 only where native, fp16 only on CUDA; else fp32.
    Each fallback is reported once per process (a trainer resolves precision more than once)."""
    import torch  # heavy: only when a trainer runs

    bf16, fp16 = config.bf16, config.fp16
    if bf16 and not is_bf16_supported():
        warn_once("bf16 (the default) needs native bf16, which this device lacks: training in fp32")
        bf16 = False
    if fp16 and not torch.cuda.is_available():
        warn_once("fp16 needs a CUDA device: training in fp32")
        fp16 = False
    return bf16, fp16


def torch_dtype(config: TrainingConfig) -> Any:
    """The torch dtype weights load in: fp32 unless bf16/fp16 will actually be used."""
    import torch  # heavy: only when a trainer runs

    bf16, fp16 = resolve_precision(config)
    return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
