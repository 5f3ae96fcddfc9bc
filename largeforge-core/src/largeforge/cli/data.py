"""``largeforge data validate|convert|stats|preview``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

FORMAT_HELP = "Data format name (see `largeforge plugins`), or auto to detect it."


def build() -> typer.Typer:
    app = typer.Typer(help="Validate, convert, inspect and preview data files.",
                      no_args_is_help=True)

    @app.command()
    def validate(
        paths: list[Path] = typer.Argument(..., help="JSON or JSONL files."),
        format: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
        max_errors: int = typer.Option(0, help="Show at most this many invalid rows (0: all)."),
        workers: Optional[int] = typer.Option(
            None, min=1, help="Processes for large files (default: one per CPU, 16 MiB or more each)."),
    ) -> None:
        """Check every row; print the format, counts and every invalid row with its reason.

        Exits 1 when any row is invalid."""
        from rich.markup import escape

        from largeforge.cli.output import console, print_success, print_warning
        from largeforge.data.validator import DataValidator

        validator = DataValidator(workers=workers)
        reports = [validator.validate_file(p, format) for p in paths]
        if as_json:
            typer.echo(json.dumps([r.to_dict() for r in reports], indent=2, default=str))
        else:
            for report in reports:
                console.print(f"[bold]{escape(report.path)}[/bold]  format: {report.format}  rows: "
                              f"{report.total}  valid: {report.valid}  invalid: {report.invalid}  "
                              f"warnings: {len(report.warnings)}", highlight=False)
                errors = report.errors if max_errors <= 0 else report.errors[:max_errors]
                for issue in errors:
                    console.print(f"  [red]invalid[/red] {escape(str(issue))}", highlight=False)
                if len(errors) < len(report.errors):
                    console.print(f"  … and {len(report.errors) - len(errors)} more")
                _warning_summary(report.warnings, print_warning)
                if report.ok:
                    print_success(f"{report.path}: all {report.total} rows valid")
        if any(not r.ok for r in reports):
            raise typer.Exit(1)

    @app.command()
    def convert(
        source: Path = typer.Argument(..., help="Input file."),
        target: Path = typer.Argument(..., help="Output file (.jsonl for JSON Lines, else JSON)."),
        to: str = typer.Option(..., "--to", "-t", help="Target format."),
        from_: str = typer.Option("auto", "--from", help=FORMAT_HELP),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Convert between formats. Rows that cannot be converted are listed and saved to
        OUTPUT.rejected.jsonl: rows in = rows out + rows rejected."""
        from rich.markup import escape

        from largeforge.cli.output import console, print_success, print_warning
        from largeforge.data.convert import convert_file

        report = convert_file(source, target, to, from_, overwrite=overwrite)
        console.print(f"{escape(report.source)} ({report.from_format}) → {report.target} ({report.to_format}): "
                      f"rows in {report.rows_in}, out {report.rows_out}, rejected "
                      f"{len(report.rejected)}", highlight=False)
        for issue in report.rejected:
            print_warning(f"rejected {issue}")
        if report.rejected_path:
            print_warning(f"rejected rows saved to {report.rejected_path}")
            raise typer.Exit(1)
        print_success(f"wrote {report.rows_out} rows to {report.target}")

    @app.command()
    def stats(
        path: Path = typer.Argument(..., help="Data file."),
        format: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
        tokenizer: Optional[str] = typer.Option(
            None, help="Model whose tokenizer counts response tokens (needs transformers)."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Rows, kinds, roles, turns, lengths, system prompts, tool calls and duplicates."""
        from largeforge.data.stats import dataset_stats

        tok = None
        if tokenizer:
            from transformers import AutoTokenizer

            from largeforge.models import resolve_model

            tok = AutoTokenizer.from_pretrained(resolve_model(tokenizer))
        result = dataset_stats(path, format, tok)
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
        path: Path = typer.Argument(..., help="Data file."),
        format: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
        rows: int = typer.Option(3, "--rows", "-n", min=1, help="How many rows to show."),
        template: Optional[str] = typer.Option(
            None, help="Render with this model's chat template (needs transformers)."),
    ) -> None:
        """Show the first rows as LargeForge reads them (roles and text), or rendered with a
        model's chat template."""
        from rich.markup import escape
        from rich.panel import Panel

        from largeforge.cli.output import console
        from largeforge.data.detect import get_format
        from largeforge.data.processors import ChatFormatter
        from largeforge.data.reader import scan

        formatter = None
        if template:
            from transformers import AutoTokenizer

            from largeforge.models import resolve_model

            formatter = ChatFormatter(AutoTokenizer.from_pretrained(resolve_model(template)))
        fmt = get_format(format, path)
        for shown, row in enumerate(scan(path, fmt), start=1):
            conv = row.conversation
            if conv is None:
                body = f"[red]invalid:[/red] {escape(row.error or '')}"
            elif formatter is not None:
                body = escape(formatter.format_messages(conv.messages))
            else:
                lines = [f"[bold]{m.role}[/bold]: {escape(m.content)}" for m in conv.messages]
                if conv.chosen and conv.rejected:
                    lines += [f"[green]chosen[/green]: {escape(conv.chosen.content)}",
                              f"[red]rejected[/red]: {escape(conv.rejected.content)}"]
                if conv.label is not None:
                    lines.append(f"[bold]label[/bold]: {conv.label}")
                body = "\n".join(lines)
            console.print(Panel(body, title=escape(f"{row.location} ({fmt.name})"), expand=False),
                          highlight=False)
            if shown >= rows:
                break

    return app


def _warning_summary(warnings: list, warn) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Warnings grouped by reason: count and the first few locations."""
    groups: dict[str, list[str]] = {}
    for issue in warnings:
        groups.setdefault(issue.reason, []).append(issue.location)
    for reason, where in groups.items():
        more = f", … ({len(where)} rows)" if len(where) > 3 else ""
        warn(f"warning: {reason}: {', '.join(where[:3])}{more}")
