"""``largeforge version``: LargeForge, its distributions and key dependencies."""

from __future__ import annotations

import importlib.metadata
import json
import platform

import typer

DISTRIBUTIONS = ("largeforge-core", "largeforge-train", "largeforge-serve", "largeforge-router", "largeforge-quant")
DEPENDENCIES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "litestar",
    "uvicorn",
    "msgspec",
    "pluggy",
    "typer",
    "sentence-transformers",
    "llmcompressor",
    "vllm",
    "openai",
)


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (from metadata, nothing imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def register(app: typer.Typer) -> None:
    @app.command()
    def version(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """Show the LargeForge version, its distributions and dependency versions."""
        from largeforge.version import __version__

        info = {
            "largeforge": __version__,
            "python": platform.python_version(),
            "distributions": {d: installed_version(d) for d in DISTRIBUTIONS},
            "dependencies": {d: installed_version(d) for d in DEPENDENCIES},
        }
        if as_json:
            typer.echo(json.dumps(info, indent=2))
            return
        typer.echo(f"LargeForge {__version__} (Python {info['python']})")
        for group in ("distributions", "dependencies"):
            typer.echo(f"{group}:")
            for name, ver in info[group].items():  # type: ignore[attr-defined]
                typer.echo(f"  {name:<24} {ver or 'not installed'}")
