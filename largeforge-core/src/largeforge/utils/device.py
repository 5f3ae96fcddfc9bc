"""Device helpers. torch is imported inside each function, so importing this module is cheap."""

from __future__ import annotations

from typing import Any


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def get_device() -> str:
    """``"cuda"`` when a CUDA device is usable, ``"mps"`` on Apple silicon, else ``"cpu"``."""
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        return "cuda"
    if torch is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def get_device_count() -> int:
    """Number of CUDA devices (0 without torch or CUDA)."""
    torch = _torch()
    return int(torch.cuda.device_count()) if torch is not None and torch.cuda.is_available() else 0


def get_device_name(index: int = 0) -> str:
    """Name of CUDA device ``index``, or the CPU's description."""
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(index))
    import platform

    return platform.processor() or platform.machine() or "cpu"


def get_device_memory(index: int = 0) -> dict[str, float]:
    """Total and free memory in GB of CUDA device ``index``, or of the host when there is none."""
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(index)
        return {"total_gb": total / 1e9, "free_gb": free / 1e9}
    try:
        import os

        pages = os.sysconf("SC_PHYS_PAGES")
        avail = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return {"total_gb": pages * size / 1e9, "free_gb": avail * size / 1e9}
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return {"total_gb": 0.0, "free_gb": 0.0}


def select_device(preference: str = "auto") -> Any:
    """A ``torch.device`` for ``preference`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    torch = _torch()
    if torch is None:
        raise RuntimeError("select_device needs torch: pip install torch")
    if preference == "auto":
        return torch.device(get_device())
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
    return torch.device(preference)


def is_bf16_supported() -> bool:
    """True only where bf16 runs natively and fast (CUDA with bf16 support).

    CPUs without AMX/AVX512-BF16 emulate bf16 autocast many times slower than fp32, so they
    report False here and trainers fall back to fp32.
    """
    torch = _torch()
    if torch is None:
        return False
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return False
