"""``largeforge data generate sft|preference``: training data written by a teacher model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from largeforge.errors import DataError
from largeforge.models import DEFAULT_MODEL


def _read_prompts(path: Path) -> list[str]:
    """Prompts from a .txt file (one per line) or JSON/JSONL (strings or rows with prompt/instruction)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        rows = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if path.suffix == ".jsonl"
            else json.loads(text)
        )
        prompts = []
        for index, row in enumerate(rows):
            value = (
                row
                if isinstance(row, str)
                else (row.get("prompt") or row.get("instruction") if isinstance(row, dict) else None)
            )
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}: row {index}: expected a string or an object with 'prompt' or 'instruction'")
            prompts.append(value)
    if not prompts:
        raise DataError(f"{path}: no prompts")
    return prompts


def _write(rows: list[dict[str, str]], output: Path, kind: str) -> None:
    from largeforge.cli.output import print_success  # rich's progress stack: when a command runs
    from largeforge.utils.io import save_json

    save_json(rows, output)
    print_success(f"{len(rows)} {kind} rows written to {output}")


def build_generate() -> typer.Typer:
    """``largeforge data generate sft|preference``."""
    app = typer.Typer(help="Generate training data with a teacher model.", no_args_is_help=True)

    @app.command("sft")
    def generate_sft(
        prompts: Path = typer.Option(..., "--prompts", "-p", help="Prompts: .txt lines, or JSON/JSONL."),
        output: Path = typer.Option(..., "--output", "-o", help="Alpaca JSON file to write."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher model (default: embedded)."),
        system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help="System prompt for the teacher."),
        batch_size: int = typer.Option(4, "--batch-size", min=1, help="Prompts per generation batch."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Reply length limit."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    ) -> None:
        """Answer prompts with a teacher model and write Alpaca SFT rows."""

        items = _read_prompts(prompts)
        from largeforge_train.generators import SyntheticGenerator  # the body loads when the command runs

        generator = SyntheticGenerator(teacher or DEFAULT_MODEL, max_new_tokens=max_new_tokens, seed=seed)
        rows = generator.generate_sft_data(items, system_prompt=system_prompt, batch_size=batch_size)
        _write(rows, output, "SFT")

    @app.command("preference")
    def generate_preference(
        prompts: Path = typer.Option(..., "--prompts", "-p", help="Prompts: .txt lines, or JSON/JSONL."),
        output: Path = typer.Option(..., "--output", "-o", help="Preference JSON file to write."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher model (default: embedded)."),
        judge: Optional[str] = typer.Option(None, "--judge", help="Judge model ranking the samples."),
        num_samples: int = typer.Option(2, "--num-samples", min=2, help="Samples per prompt (with a judge)."),
        batch_size: int = typer.Option(4, "--batch-size", min=1, help="Prompts per generation batch."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Reply length limit."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    ) -> None:
        """Sample answers and write prompt/chosen/rejected rows (judge-ranked when --judge)."""

        items = _read_prompts(prompts)
        from largeforge_train.generators import PreferenceGenerator  # the body loads when the command runs

        generator = PreferenceGenerator(
            teacher or DEFAULT_MODEL, judge_model=judge, max_new_tokens=max_new_tokens, seed=seed
        )
        rows = generator.generate_preference_data(items, num_samples=num_samples, batch_size=batch_size)
        _write(rows, output, "preference")

    return app
