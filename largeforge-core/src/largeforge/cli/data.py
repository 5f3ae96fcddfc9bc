"""``largeforge data validate|convert|stats|preview``.

Inputs are any location a data reader claims: JSON, JSON Lines, Parquet, CSV/TSV, Arrow files, a
``datasets`` ``save_to_disk`` folder, a hub id from the local cache, ``-`` for standard input, or
a dataset named in ``--dataset-info`` (LLaMA-Factory's ``dataset_info.json``). Settings come from
the global ``--config`` file's ``data`` section, then the flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from largeforge.cli.data_options import COLUMNS, DATASET_INFO, FORMAT, settings, source_of

INPUT_HELP = (
    "Data: a .json/.jsonl/.parquet/.csv/.tsv/.arrow file, a save_to_disk folder, a hub id "
    "(owner/name[:split], from the cache), - for stdin, or a name in --dataset-info."
)


def build() -> typer.Typer:
    app = typer.Typer(help="Validate, convert, inspect and preview data files.", no_args_is_help=True)

    @app.command()
    def validate(
        ctx: typer.Context,
        paths: list[str] = typer.Argument(..., help=INPUT_HELP + " A dataset_info.json checks every dataset it lists."),
        format: Optional[str] = FORMAT,
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
        max_errors: Optional[int] = typer.Option(None, help="Show at most this many invalid rows (0: all)."),
        workers: Optional[int] = typer.Option(
            None, min=1, help="Processes for large files (default: one per CPU, 16 MiB or more each)."
        ),
    ) -> None:
        """Check every row; print the format, counts and every invalid row with its reason.

        Every input is reported, one that cannot be read in one line; exits 1 when any input
        could not be read or holds an invalid row."""
        from rich.markup import escape

        from largeforge.cli.output import console, print_error, print_success, print_warning
        from largeforge.data.dataset_info import is_dataset_info, load_dataset_info
        from largeforge.data.validator import DataValidator
        from largeforge.errors import LargeForgeError

        opts = settings(
            ctx,
            "validate",
            format=format,
            columns=columns,
            dataset_info=dataset_info,
            max_errors=max_errors,
            workers=workers,
        )
        validator = DataValidator(workers=opts.get("workers"))
        targets: list[tuple[str, Path | None]] = []
        for path in paths:
            if is_dataset_info(path):  # a whole registry: each dataset it lists
                targets += [(name, Path(path)) for name in load_dataset_info(path)]
            else:
                targets.append((path, opts.get("dataset_info")))
        reports, failures = [], []
        for location, registry in targets:
            try:
                source = source_of(location, opts.get("columns"), registry)
                reports.append(validator.validate_file(source, opts.get("format", "auto")))
            except LargeForgeError as exc:
                failures.append({"path": location, "error": str(exc)})
                if not as_json:
                    print_error(str(exc) if location in str(exc) else f"{location}: {exc}")
                continue
            if as_json:
                continue
            report = reports[-1]
            console.print(
                f"[bold]{escape(report.path)}[/bold]  format: {report.format}  rows: "
                f"{report.total}  valid: {report.valid}  invalid: {report.invalid}  "
                f"warnings: {len(report.warnings)}",
                highlight=False,
            )
            limit = opts.get("max_errors", 0)
            errors = report.errors if limit <= 0 else report.errors[:limit]
            for issue in errors:
                console.print(f"  [red]invalid[/red] {escape(str(issue))}", highlight=False)
            if len(errors) < len(report.errors):
                console.print(f"  … and {len(report.errors) - len(errors)} more")
            _warning_summary(report.warnings, print_warning)
            if report.ok:
                print_success(f"{report.path}: all {report.total} rows valid")
        if as_json:
            typer.echo(
                json.dumps(
                    [r.to_dict() for r in reports] + [dict(f, ok=False) for f in failures], indent=2, default=str
                )
            )
        if failures or any(not r.ok for r in reports):
            raise typer.Exit(1)

    @app.command()
    def convert(
        ctx: typer.Context,
        source: str = typer.Argument(..., help=INPUT_HELP),
        target: Path = typer.Argument(
            ..., help="Output file; its suffix picks the kind: .jsonl, .json, .parquet, .csv/.tsv (flat), .arrow."
        ),
        to: Optional[str] = typer.Option(None, "--to", "-t", help="Target layout (format name)."),
        from_: Optional[str] = typer.Option(None, "--from", help="Source layout, or auto to detect it."),
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        overwrite: Optional[bool] = typer.Option(None, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Convert between layouts and file kinds. Rows that cannot be converted whole are listed and
        saved to OUTPUT.rejected.jsonl: rows in = rows out + rows rejected."""
        from rich.markup import escape

        from largeforge.cli.output import console, print_success, print_warning
        from largeforge.data.convert import convert_file
        from largeforge.errors import ConfigError

        opts = settings(
            ctx, "convert", to=to, **{"from": from_}, columns=columns, dataset_info=dataset_info, overwrite=overwrite
        )
        if not opts.get("to"):
            raise ConfigError(
                "convert needs --to (the target layout: alpaca, sharegpt, messages, dpo, prompt_completion, …)"
            )
        src = source_of(source, opts.get("columns"), opts.get("dataset_info"))
        report = convert_file(src, target, opts["to"], opts.get("from", "auto"), overwrite=bool(opts.get("overwrite")))
        console.print(
            f"{escape(report.source)} ({report.from_format}) → {escape(report.target)} "
            f"({report.to_format}, {report.file_kind}): rows in {report.rows_in}, out {report.rows_out}, "
            f"rejected {len(report.rejected)}",
            highlight=False,
        )
        for issue in report.rejected:
            print_warning(f"rejected {issue}")
        if report.rejected_path:
            print_warning(f"rejected rows saved to {report.rejected_path}")
            raise typer.Exit(1)
        print_success(f"wrote {report.rows_out} rows to {report.target}")

    @app.command()
    def stats(
        ctx: typer.Context,
        path: str = typer.Argument(..., help=INPUT_HELP),
        format: Optional[str] = FORMAT,
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        tokenizer: Optional[str] = typer.Option(
            None, help="Model whose tokenizer counts response tokens (needs transformers)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Rows, kinds, roles, turns, lengths, system prompts, tools and duplicates."""
        from largeforge.data.stats import dataset_stats

        opts = settings(ctx, "stats", format=format, columns=columns, dataset_info=dataset_info, tokenizer=tokenizer)
        tok = _tokenizer(opts.get("tokenizer"))
        source = source_of(path, opts.get("columns"), opts.get("dataset_info"))
        result = dataset_stats(source, opts.get("format", "auto"), tok)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        from rich.table import Table

        from largeforge.cli.output import console

        table = Table(title=f"{path} ({result['format']})", show_header=False)
        for key, value in result.items():
            if key in ("path", "format"):
                continue
            if isinstance(value, dict):
                value = "  ".join(f"{k}={v}" for k, v in value.items()) or "-"
            table.add_row(key, str(value))
        console.print(table)

    @app.command()
    def preview(
        ctx: typer.Context,
        path: str = typer.Argument(..., help=INPUT_HELP),
        format: Optional[str] = FORMAT,
        columns: Optional[str] = COLUMNS,
        dataset_info: Optional[Path] = DATASET_INFO,
        rows: Optional[int] = typer.Option(None, "--rows", "-n", min=1, help="How many rows to show (default 3)."),
        template: Optional[str] = typer.Option(
            None, help="Render with this model's chat template, tools included (needs transformers)."
        ),
        chat_template: Optional[str] = typer.Option(
            None, "--chat-template", help="A Jinja chat template (file or text) instead of the model's."
        ),
    ) -> None:
        """Show the first rows as LargeForge reads them (roles, text, tools), or as the training text
        a model's chat template renders from them."""
        from rich.markup import escape
        from rich.panel import Panel

        from largeforge.cli.output import console
        from largeforge.data.detect import get_format
        from largeforge.data.processors import ChatFormatter
        from largeforge.data.rows import scan

        opts = settings(
            ctx,
            "preview",
            format=format,
            columns=columns,
            dataset_info=dataset_info,
            rows=rows,
            template=template,
            chat_template=chat_template,
        )
        formatter = None
        if opts.get("template") or opts.get("chat_template"):
            formatter = ChatFormatter(_tokenizer(opts.get("template")), _template_text(opts.get("chat_template")))
        source = source_of(path, opts.get("columns"), opts.get("dataset_info"))
        fmt = get_format(opts.get("format", "auto"), source)
        for shown, row in enumerate(scan(source, fmt), start=1):
            conv = row.conversation
            if conv is None:
                body = f"[red]invalid:[/red] {escape(row.error or '')}"
            elif formatter is not None:
                body = escape(formatter.format_conversation(conv))
            else:
                body = "\n".join(_plain_lines(conv))
            # wrapped, not cropped: the whole text is what a preview is for
            panel = Panel(body, title=escape(f"{row.location} ({fmt.name})"), expand=False)
            console.print(panel, highlight=False, soft_wrap=False)
            if shown >= opts.get("rows", 3):
                break

    return app


def _tokenizer(model: str | None) -> Any:
    """The tokenizer of ``model`` (an alias, folder or hub id), or ``None``."""
    if not model:
        return None
    from transformers import AutoTokenizer

    from largeforge.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(model))


def _template_text(template: str | None) -> str | None:
    """A chat template given as a file or as its text."""
    if template and len(template) < 4096 and Path(template).is_file():
        return Path(template).read_text(encoding="utf-8")
    return template


def _plain_lines(conv: Any) -> list[str]:
    from rich.markup import escape

    lines = []
    if conv.tools:
        lines.append(f"[bold]tools[/bold]: {escape(conv.tools)}")
    lines += [f"[bold]{m.role}[/bold]: {escape(m.content)}" for m in conv.messages]
    if conv.chosen and conv.rejected:
        lines += [
            f"[green]chosen[/green]: {escape(conv.chosen.content)}",
            f"[red]rejected[/red]: {escape(conv.rejected.content)}",
        ]
    if conv.label is not None:
        lines.append(f"[bold]label[/bold]: {conv.label}")
    return lines


def _warning_summary(warnings: list, warn) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Warnings grouped by reason: count and the first few locations."""
    groups: dict[str, list[str]] = {}
    for issue in warnings:
        groups.setdefault(issue.reason, []).append(issue.location)
    for reason, where in groups.items():
        more = f", … ({len(where)} rows)" if len(where) > 3 else ""
        warn(f"warning: {reason}: {', '.join(where[:3])}{more}")
