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


def _pairings(data: list[str], models: dict[str, str]) -> list[tuple[Path, dict[str, str]]]:
    """Each eval file with the models it scores: ``LABEL=FILE`` scores the model labelled LABEL
    (and ``base``), a plain ``FILE`` every model."""
    plans = []
    for item in data:
        label, sep, path = item.partition("=")
        if not sep or Path(item).exists():
            plans.append((Path(item), dict(models)))
            continue
        if label not in models:
            raise typer.BadParameter(f"{item}: no --model labelled {label!r} (labels: {', '.join(models)})")
        plans.append((Path(path), {k: v for k, v in models.items() if k in (label, "base")}))
    return plans


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        ctx: typer.Context,
        data: list[str] = typer.Argument(
            ...,
            help="Eval data file (any supported format); LABEL=FILE scores only the model labelled LABEL "
            "(and --base) on it, so each expert gets its own file. Repeatable.",
        ),
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
        seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and of the bootstrap."),
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
        general_rows: int = typer.Option(
            0,
            "--general-rows",
            help="Retention: also score --base and every model on this many rows of the general set.",
        ),
        general_data: Optional[Path] = typer.Option(
            None, "--general-data", help="Your own general set instead of LargeForge's."
        ),
        max_regression: float = typer.Option(
            0.1, "--max-regression", help="Largest drop of `contains` on the general set that passes."
        ),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 with one line when retention is lost."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    ) -> None:
        """Score models on DATA: loss and perplexity of the reference replies, task metrics (exact
        match, contains, ROUGE-L, plugins') on greedy answers, each with a 95% bootstrap interval,
        and every model's paired change over --base. Rows that do not fit a model's context are
        skipped with one line saying so."""
        from largeforge.config.evaluation import EvalConfig
        from largeforge.errors import LargeForgeError
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
                "general_rows": general_rows,
                "max_regression": max_regression,
            },
            source="command-line options",
        )
        for kind, names in (("evaluators", [evaluator]), ("metrics", config.metrics)):
            for name in names:
                getattr(registries(), kind).get(name)  # an unknown name fails in one line listing the known
        if general_rows and not base:
            raise LargeForgeError("--general-rows compares every model with the base model: give --base")
        models = {**({"base": base} if base else {}), **_labelled(model)}
        evals = [_score_file(path, chosen, config, fmt, val_size) for path, chosen in _pairings(data, models)]
        general = _general(models, config, general_data) if general_rows else None
        if as_json:
            import json

            payload: dict[str, Any] = evals[0] if len(evals) == 1 else {"evals": evals}
            if general is not None:
                payload = {**payload, "general": general}
            typer.echo(json.dumps(payload, indent=2))
        else:
            for result in evals:
                _print_table(result, config.metrics)
            if general is not None:
                _print_table(general, list(dict.fromkeys([*config.metrics, "contains"])))
        if general is not None:
            _gate(general, strict)


def _gate(general: dict[str, Any], strict: bool) -> None:
    """One warning line per model that lost general ability; with ``strict``, a failure instead."""
    from largeforge.errors import LargeForgeError
    from largeforge.evaluation.retention import retention_line

    lines = [
        retention_line(label, {**general, **judged})
        for label, judged in general["verdicts"].items()
        if not judged["passed"]
    ]
    if lines and strict:
        raise LargeForgeError(lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""))
    for line in lines:
        typer.echo(f"warning: {line}", err=True)


def _score_file(path: Path, models: dict[str, str], config: Any, fmt: str, val_size: float | None) -> dict[str, Any]:
    """Every model of ``models`` on the rows of ``path`` (its held-out split with ``val_size``)."""
    from largeforge.data import load_conversations
    from largeforge.errors import LargeForgeError
    from largeforge.evaluation import eval_examples, split_conversations
    from largeforge.evaluation.scoring import bootstrap_of, compare, score_models

    conversations = load_conversations(path, fmt)
    if val_size is not None:
        conversations = split_conversations(conversations, config.val_size, config.seed).heldout
    examples = eval_examples(conversations)[: config.max_rows]
    if not examples:
        raise LargeForgeError(
            f"{path}: no rows to evaluate (held-out {len(conversations)} rows with --val-size {val_size})"
        )
    results, notes = score_models(models, examples, config, str(path))
    comparisons = {
        label: compare(results["base"], measured, bootstrap_of(config))
        for label, measured in results.items()
        if label != "base" and "base" in results
    }
    return {"data": str(path), "rows": len(examples), "models": results, "comparisons": comparisons, "notes": notes}


def _general(models: dict[str, str], config: Any, path: Path | None) -> dict[str, Any]:
    """Base and every model on the general set, with each model's retention verdict."""
    from largeforge.evaluation.retention import general_examples, verdict
    from largeforge.evaluation.scoring import bootstrap_of, score_models
    from largeforge.forge.retention_stage import general_config

    examples, source = general_examples(path, config.general_rows)
    settings = general_config(config)
    results, notes = score_models(models, examples, settings, "general set")
    verdicts = {
        label: verdict(
            results["base"],
            measured,
            examples,
            max_regression=config.max_regression,
            bootstrap=bootstrap_of(config),
        )
        for label, measured in results.items()
        if label != "base"
    }
    comparisons = {label: v["comparison"] for label, v in verdicts.items()}
    return {
        "data": source,
        "source": source,
        "rows": len(examples),
        "confidence": config.confidence,
        "models": results,
        "comparisons": comparisons,
        "verdicts": verdicts,
        "notes": notes,
    }


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


def _print_table(result: dict[str, Any], metrics: list[str]) -> None:
    from rich.table import Table

    from largeforge.cli.output import console

    table = Table(title=f"eval: {result['data']}: {result['rows']} rows (95% bootstrap intervals)")
    for column in ("model", "scored", "skipped", "loss", "perplexity", *metrics):
        table.add_column(column)
    for label, measured in result["models"].items():
        spans = measured.get("intervals", {})
        table.add_row(
            label,
            str(measured["rows"]),
            str(measured["skipped"]),
            _fmt(measured["loss"], spans.get("loss")),
            _fmt(measured["perplexity"], spans.get("perplexity")),
            *(_fmt(measured["metrics"].get(m), spans.get(m)) for m in metrics),
        )
    for label, change in result.get("comparisons", {}).items():
        cells = [_fmt(change.get(m, {}).get("delta"), change.get(m, {}).get("interval"), "+") for m in metrics]
        loss = change.get("loss", {})
        table.add_row(
            f"{label} - base", str(change["rows"]), "", _fmt(loss.get("delta"), loss.get("interval"), "+"), "", *cells
        )
    console.print(table)


def _fmt(value: float | None, interval: list[float] | None = None, sign: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:{sign}.4f}"
    return f"{text} [{interval[0]:{sign}.3f}, {interval[1]:{sign}.3f}]" if interval and None not in interval else text
