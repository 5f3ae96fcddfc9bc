"""``largeforge models list|pull``."""

from __future__ import annotations

import json

import typer


def build() -> typer.Typer:
    app = typer.Typer(help="List and prepare models (embedded aliases, local cache).", no_args_is_help=True)

    @app.command("list")
    def list_models(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """Models the registered sources know about, and whether they are ready."""
        from largeforge.plugins import registries

        rows = [row for entry in registries().model_sources.entries() for row in entry.value.available()]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        from rich.table import Table

        from largeforge.cli.output import console

        table = Table(title="Models")
        for col in ("name", "source", "status", "path"):
            table.add_column(col)
        for row in rows:
            table.add_row(row["name"], row["source"], row["status"], row["path"])
        console.print(table)

    @app.command()
    def pull(ref: str = typer.Argument(..., help="Embedded alias (e.g. smollm2-135m-instruct) or hub id.")) -> None:
        """Install and convert an embedded model (or fill the Hugging Face cache) ahead of time."""
        from largeforge.cli.output import print_success
        from largeforge.models import pull_model

        path = pull_model(ref)
        print_success(f"{ref} ready at {path}")

    return app
