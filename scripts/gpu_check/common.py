"""What the parts share: where things are, how a part fails, and how LargeForge is run.

LargeForge is driven through its command line, as a user would, via ``python -m gpu_check cli``,
which also reports the command's peak CUDA memory: the proof that it ran on the GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "smollm2-135m-instruct"


class CheckFailed(RuntimeError):
    """A part that could not go on; ``details`` is what it found before."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass
class Context:
    """Where a part finds the bundle and keeps its files."""

    repo: Path
    bundle: Path
    stash: Path
    work: Path

    @property
    def content(self) -> Path:
        """The joined bundle: ``wheels/``, ``data/``, ``manifest.json``."""
        return self.work / "bundle" / "content"

    @property
    def site(self) -> Path:
        """Where the wheels are installed (``pip install --target``); on ``PYTHONPATH``."""
        return self.work / "site"

    @property
    def runs(self) -> Path:
        """Output directories of the training, quantization and serving runs."""
        return self.work / "runs"

    def identity(self) -> dict[str, Any]:
        """The identity data's name, row count, origin and path."""
        manifest: dict[str, Any] = json.loads((self.content / "manifest.json").read_text())
        return dict(manifest["identity"], path=str(self.content / manifest["identity"]["file"]))

    def cli_command(self, probe: Path, *args: str) -> list[str]:
        """The command that runs ``largeforge ARGS`` in-process and writes its facts to ``probe``."""
        return [sys.executable, "-m", "gpu_check", "cli", "--probe", str(probe), "--", *args]


def largeforge(ctx: Context, *args: str, name: str) -> tuple[int, dict[str, Any], str]:
    """Run ``largeforge ARGS``; (exit code, probe facts, output). The output is echoed into the log."""
    probe = ctx.work / f"probe-{name}.json"
    result = subprocess.run(ctx.cli_command(probe, *args), capture_output=True, text=True)
    output = result.stdout + result.stderr
    print(output, flush=True)
    facts = json.loads(probe.read_text()) if probe.is_file() else {}
    return result.returncode, facts, output


def cuda_peak_mb(facts: dict[str, Any]) -> int:
    """The peak CUDA memory a probed command allocated, in MiB (0: it never used the GPU)."""
    return round(facts.get("cuda_peak_bytes", 0) / 2**20)


def answers(model: Any, tokenizer: Any, questions: list[str], max_new_tokens: int = 30) -> list[str]:
    """Greedy replies of ``model`` to each question as a one-turn chat."""
    import torch

    replies = []
    for question in questions:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        replies.append(tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    return replies
