"""``largeforge augment IN OUT --teacher-url URL``: add paraphrases of every prompt to SFT data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("augment")
    def augment_command(
        source: Path = typer.Argument(..., help="SFT data file (any supported format)."),
        output: Path = typer.Argument(..., help="Where the augmented rows go (OpenAI messages JSONL)."),
        teacher_url: str = typer.Option(
            ...,
            "--teacher-url",
            help="OpenAI-compatible base URL of the teacher, e.g. http://127.0.0.1:8011/v1 "
            "(`largeforge serve inference --model smollm2-135m-instruct --port 8011` serves the base model).",
        ),
        teacher_model: str = typer.Option("default", "--teacher-model", help="Model name sent to the teacher."),
        api_key: Optional[str] = typer.Option(None, "--api-key", envvar="LARGEFORGE_TEACHER_API_KEY"),
        paraphrases: int = typer.Option(2, "--paraphrases", min=1, max=20, help="Paraphrases asked per prompt."),
        cache: Optional[Path] = typer.Option(
            None, "--cache", help="Cache of the teacher's answers (default: OUT with .teacher-cache.json)."
        ),
        fmt: str = typer.Option("auto", "--format", help="Data format of SOURCE, or auto to detect it."),
    ) -> None:
        """Ask the teacher once for paraphrases of each row's last user turn, keep the valid ones
        (one line, not the prompt nor a repeat, not far longer), and write the original rows
        followed by one row per paraphrase with the same reply. Answers are cached: a re-run asks
        nothing. The output is read back as any data file would be before it is reported."""
        from largeforge.augmentation import EndpointTeacher, augment
        from largeforge.cli.output import console
        from largeforge.data import load_conversations
        from largeforge.errors import DataError
        from largeforge.utils.io import save_jsonl

        conversations = load_conversations(source, fmt)
        pairs = [i for i, c in enumerate(conversations) if c.chosen is not None or c.rejected is not None]
        if pairs:
            raise DataError(f"{source}: row {pairs[0]} is a preference pair; augment takes SFT rows")
        cache_path = cache or output.with_name(output.name + ".teacher-cache.json")
        teacher = EndpointTeacher(teacher_url, teacher_model, api_key)
        result = augment(conversations, teacher, paraphrases, cache_path)
        save_jsonl([{"messages": [m.to_openai() for m in c.messages]} for c in result.rows], output)
        rows = len(load_conversations(output, "messages"))  # validated like any data file
        console.print(
            f"{output}: {rows} rows ({len(conversations)} original + {result.added} paraphrases; "
            f"teacher asked {result.asked}×, {result.cached} from {cache_path}; {len(result.rejected)} lines rejected)",
            highlight=False,
            soft_wrap=True,
        )
        for line in result.rejected[:5]:
            console.print(f"  rejected: {line}", highlight=False, soft_wrap=True)
