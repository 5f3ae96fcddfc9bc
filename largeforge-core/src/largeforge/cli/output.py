"""Rich console output shared by every command (spec 7.1)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_header(text: str) -> None:
    console.print(f"[bold]{text}[/bold]")
    console.print("=" * len(text))


def print_success(text: str) -> None:
    console.print(f"[green]✓[/green] {escape(text)}", highlight=False)


def print_error(text: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(text)}", highlight=False)


def print_warning(text: str) -> None:
    err_console.print(f"[yellow]![/yellow] {escape(text)}", highlight=False)


def print_info(text: str) -> None:
    console.print(f"[blue]•[/blue] {escape(text)}", highlight=False)


def create_progress(**kwargs: Any) -> Progress:
    """A progress bar with count, bar and ETA (``with create_progress() as p: ...``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        **kwargs,
    )
