"""``largeforge eval DATA --model M``: score models on an eval file or a held-out split of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from largeforge.config.evaluation import DEFAULT_METRICS


def _labelled(models: list[str]) -> dict[str, str]:
    """``LABEL=MODEL`` or ``MODEL`` (labelled by its last path part) → ``{label: model}``."""
    out: dict[str, str] = {}
    for item in models:
        label, sep, model = item.partition("=")
        if not sep:
            label, model = Path(item.rstrip("/")).name or item, item
        out[label] = model
    return out


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        ctx: typer.Context,
        data: Path = typer.Argument(..., help="Eval data file (any supported format)."),
        model: list[str] = typer.Option(
            ...,
            "--model",
            "-m",
            help="Model to score: LABEL=PATH or PATH (alias, directory, LoRA adapter); repeatable.",
        ),
        base: Optional[str] = typer.Option(None, "--base", help="Also score this base model, labelled 'base'."),
        val_size: Optional[float] = typer.Option(
            None,
            "--val-size",
            help="Score only the held-out rows the forge's split leaves out of DATA "
            "(fraction below 1, or a count), instead of every row.",
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the held-out split."),
        metric: Optional[list[str]] = typer.Option(
            None, "--metric", help="Metric name (repeatable; see `largeforge plugins`)."
        ),
        fmt: str = typer.Option("auto", "--format", help="Data format, or auto to detect it."),
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Tokens generated per answer."),
        max_rows: int = typer.Option(200, "--max-rows", help="At most this many rows scored per model."),
        max_length: Optional[int] = typer.Option(
            None, "--max-length", help="Context a row must fit (default: the model's)."
        ),
        evaluator: str = typer.Option("transformers", "--evaluator", help="Registered evaluator."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    ) -> None:
        """Score models on DATA: loss and perplexity of the reference replies, task metrics (exact
        match, contains, ROUGE-L, plugins') on greedy answers. Rows that do not fit a model's context
        are skipped with one line saying so."""
        from largeforge.config.evaluation import EvalConfig
        from largeforge.data import load_conversations
        from largeforge.errors import LargeForgeError
        from largeforge.evaluation import eval_examples, split_conversations
        from largeforge.evaluation.scoring import score_models
        from largeforge.plugins import registries

        given = _from_config(
            ctx,
            {
                "val_size": val_size,
                "seed": seed,
                "metric": metric,
                "fmt": fmt,
                "max_new_tokens": max_new_tokens,
                "max_rows": max_rows,
                "max_length": max_length,
                "evaluator": evaluator,
                "base": base,
            },
        )
        val_size, seed, metric, fmt, base = (given[k] for k in ("val_size", "seed", "metric", "fmt", "base"))
        max_new_tokens, max_rows, max_length, evaluator = (
            given[k] for k in ("max_new_tokens", "max_rows", "max_length", "evaluator")
        )
        size: float = 0 if val_size is None else int(val_size) if val_size >= 1 else val_size
        config = EvalConfig.from_dict(
            {
                "val_size": size,
                "seed": seed,
                "metrics": metric or DEFAULT_METRICS,
                "max_new_tokens": max_new_tokens,
                "max_rows": max_rows,
                "max_length": max_length,
                "evaluator": evaluator,
            },
            source="command-line options",
        )
        for kind, names in (("evaluators", [evaluator]), ("metrics", config.metrics)):
            for name in names:
                getattr(registries(), kind).get(name)  # an unknown name fails in one line listing the known
        conversations = load_conversations(data, fmt)
        if val_size is not None:
            conversations = split_conversations(conversations, config.val_size, seed).heldout
        examples = eval_examples(conversations)[:max_rows]
        if not examples:
            raise LargeForgeError(
                f"{data}: no rows to evaluate (held-out {len(conversations)} rows with --val-size {val_size})"
            )
        models = {**({"base": base} if base else {}), **_labelled(model)}
        results, notes = score_models(models, examples, config, str(data))
        if as_json:
            import json

            typer.echo(
                json.dumps({"data": str(data), "rows": len(examples), "models": results, "notes": notes}, indent=2)
            )
            return
        _print_table(results, config.metrics, len(examples))


#: ``eval`` section keys of the global ``--config`` file → the option they set
_SECTION_KEYS = {
    "val_size": "val_size",
    "seed": "seed",
    "metrics": "metric",
    "format": "fmt",
    "max_new_tokens": "max_new_tokens",
    "max_rows": "max_rows",
    "max_length": "max_length",
    "evaluator": "evaluator",
    "base": "base",
}


def _from_config(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with those left at their default taken from the global config's ``eval`` section."""
    from largeforge.cli.state import get_state
    from largeforge.errors import ConfigError

    state = get_state(ctx)
    for key, value in state.section("eval").items():
        if key not in _SECTION_KEYS:
            raise ConfigError(
                f"{state.config_path}: eval.{key}: not an eval setting (settings: {', '.join(_SECTION_KEYS)})"
            )
        option = _SECTION_KEYS[key]
        source = ctx.get_parameter_source(option)
        if source is None or source.name == "DEFAULT":  # by name: typer may bundle its own click
            values[option] = [value] if option == "metric" and isinstance(value, str) else value
    return values


def _print_table(results: dict[str, dict[str, Any]], metrics: list[str], rows: int) -> None:
    from rich.table import Table

    from largeforge.cli.output import console

    table = Table(title=f"eval: {rows} rows")
    for column in ("model", "scored", "skipped", "loss", "perplexity", *metrics):
        table.add_column(column)
    for label, result in results.items():
        values = [result["metrics"].get(m) for m in metrics]
        table.add_row(
            label,
            str(result["rows"]),
            str(result["skipped"]),
            _fmt(result["loss"]),
            _fmt(result["perplexity"]),
            *(_fmt(v) for v in values),
        )
    console.print(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
