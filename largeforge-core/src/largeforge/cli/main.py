"""The ``largeforge`` command line, built from the installed plugins by :func:`create_app`."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

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
    from largeforge.cli import augment_cmd, doctor, eval_cmd, models, plugins_cmd, version_cmd
    from largeforge.cli import data as data_cmd
    from largeforge.cli import forge as forge_cmd
    from largeforge.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
        config: Optional[Path] = typer.Option(
            None,
            "--config",
            help="Global config file (YAML/TOML/JSON): `data`, `train` and `quant` commands read their section.",
        ),
    ) -> None:
        from largeforge.errors import ConfigError
        from largeforge.utils.logging import configure_logging

        if config is not None and not config.is_file():
            raise ConfigError(f"--config {config}: {'is a directory' if config.is_dir() else 'file not found'}")
        ctx.obj = CLIState(verbose=verbose, quiet=quiet, config_path=config)
        configure_logging("DEBUG" if verbose else "WARNING" if quiet else "INFO")

    version_cmd.register(app)
    doctor.register(app)
    plugins_cmd.register(app, pm)
    forge_cmd.register(app)
    eval_cmd.register(app)
    augment_cmd.register(app)
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


@contextlib.contextmanager
def _watch_ctrl_c() -> Iterator[list[bool]]:
    """Note a Ctrl+C (SIGINT) while the block runs, still raising ``KeyboardInterrupt`` as
    Python does: the yielded list holds True once one arrived (main thread only)."""
    seen: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_sigint(signum: int, frame: Any) -> None:
        seen.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; LargeForge errors become one line and exit code 1, usage errors exit 2.

    Ctrl+C propagates as ``KeyboardInterrupt`` (a caller such as pytest must see it, and stop);
    the console script (:func:`run`) turns it into "Interrupted." and exit code 130."""
    from largeforge.errors import LargeForgeError

    try:
        app = create_app()
        with _watch_ctrl_c() as interrupted:
            result = app(args=argv, prog_name="largeforge", standalone_mode=False)
        if interrupted and result == 130:  # typer turned the Ctrl+C into a return value
            raise KeyboardInterrupt
    except LargeForgeError as exc:
        from largeforge.cli.output import print_error

        print_error(str(exc))
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # click's wrapping of Ctrl+C
            raise KeyboardInterrupt from None
        print("Aborted.", file=sys.stderr)
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
    try:
        code = main()
    except KeyboardInterrupt:
        from largeforge.utils.interrupt import hints

        print("Interrupted.", file=sys.stderr)
        for hint in hints():  # what was kept, how to resume
            print(hint, file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
