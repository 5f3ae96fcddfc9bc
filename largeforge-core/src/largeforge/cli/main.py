"""The ``largeforge`` command line, built from the installed plugins by :func:`create_app`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from largeforge.cli.state import CLIState

if TYPE_CHECKING:
    from largeforge.plugins import PluginManager

HELP = """LargeForge: forge domain-expert language models from your data.

Validate and convert data, fine-tune (SFT, DPO, LoRA), quantize, serve behind an
OpenAI-compatible API and route queries to the right expert. Commands come from plugins:
`largeforge plugins` lists them."""


def create_app(pm: PluginManager | None = None) -> typer.Typer:
    """Build the Typer app: core commands plus whatever the plugins register."""
    from largeforge.cli import data as data_cmd
    from largeforge.cli import doctor, eval_cmd, models, plugins_cmd, version_cmd
    from largeforge.cli import forge as forge_cmd
    from largeforge.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    app = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def root(
        ctx: typer.Context,
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
        config: Optional[Path] = typer.Option(
            None, "--config", help="Global config file (YAML/TOML/JSON); commands read their section."),
    ) -> None:
        from largeforge.utils.logging import configure_logging

        ctx.obj = CLIState(verbose=verbose, quiet=quiet, config_path=config)
        configure_logging("DEBUG" if verbose else "WARNING" if quiet else "INFO")

    version_cmd.register(app)
    doctor.register(app)
    plugins_cmd.register(app, pm)
    forge_cmd.register(app)
    eval_cmd.register(app)
    app.add_typer(data_cmd.build(), name="data")
    app.add_typer(models.build(), name="models")
    try:
        pm.hook.register_commands(app=app)
    except Exception as exc:  # a broken plugin must not take the CLI down
        pm._fail("register_commands", "register_commands", exc)
    return app


def get_group(app: typer.Typer, name: str) -> typer.Typer:
    """The command group ``name`` of ``app`` (e.g. ``data``), so plugins can add subcommands
    to a core group: ``get_group(app, "data").add_typer(generate, name="generate")``."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    raise KeyError(f"no command group {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; LargeForge errors become one line and exit code 1."""
    from largeforge.errors import LargeForgeError

    try:
        app = create_app()
        result = app(args=argv, prog_name="largeforge", standalone_mode=False)
    except LargeForgeError as exc:
        from largeforge.cli.output import print_error

        print_error(str(exc))
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # usage errors, from click or from the click typer bundles
        from largeforge.cli.usage import click_exception_types, usage_error_line

        if isinstance(exc, click_exception_types()):
            from largeforge.cli.output import print_error

            print_error(usage_error_line(exc))
            return int(getattr(exc, "exit_code", 2))
        raise
    return result if isinstance(result, int) else 0


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
