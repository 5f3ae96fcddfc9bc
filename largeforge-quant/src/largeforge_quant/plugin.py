"""Entry point of the quant plugin: registers its implementations and commands with the core."""

from __future__ import annotations

import typer

from largeforge import hookimpl


@hookimpl
def register_commands(app: typer.Typer) -> None:
    group = typer.Typer(help="quant commands.", no_args_is_help=True)
    app.add_typer(group, name="quant")
