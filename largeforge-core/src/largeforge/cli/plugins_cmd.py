"""``largeforge plugins``: every plugin, its distribution, version, hooks and failures."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from largeforge.plugins import PluginManager


def register(app: typer.Typer, pm: PluginManager) -> None:
    @app.command()
    def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """List installed plugins, what they provide, and any that failed to load."""
        registries = pm.registries  # fills registries (and records registration failures)
        provided: dict[str, dict[str, list[str]]] = {}
        for kind, registry in registries.all().items():
            for entry in registry.entries():
                provided.setdefault(entry.provider, {}).setdefault(kind, []).append(entry.name)
        infos = [
            dict(asdict(info), status="loaded", provides=provided.get(info.name, {})) for info in pm.plugin_infos()
        ]
        failed_names = {f.name for f in pm.failures}
        for info in infos:
            if info["name"] in failed_names:
                info["status"] = "partial"
        failures = [dict(asdict(f), status="failed") for f in pm.failures]
        if as_json:
            typer.echo(json.dumps({"plugins": infos, "failed": failures}, indent=2))
            return
        from rich.table import Table

        from largeforge.cli.output import console

        table = Table(title="LargeForge plugins")
        for col in ("plugin", "distribution", "version", "hooks", "provides"):
            table.add_column(col)
        for info in infos:
            provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in info["provides"].items())
            hooks = ", ".join(h.removeprefix("register_") for h in info["hooks"])
            table.add_row(info["name"], info["distribution"] or "-", info["version"] or "-", hooks, provides or "-")
        console.print(table)
        for failure in failures:
            console.print(
                f"[red]failed[/red] {failure['name']} ({failure['distribution'] or '?'}) "
                f"in {failure['stage']}: {failure['error']}",
                highlight=False,
            )
