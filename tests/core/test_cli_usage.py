"""Usage errors are one line and exit 2, whatever click typer bundles.

typer 0.29 bundles its own click, whose exceptions ``click.ClickException`` does not catch;
unknown commands and options printed a traceback. A command of a sibling distribution that is
not installed names the distribution and the pip command.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from largeforge.cli.main import main


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope"], "No such command 'nope'"),
        (["--bogus"], "No such option: --bogus"),
        (["data", "validate", "--bogus", "x.json"], "see 'largeforge data validate --help'"),
        (["data", "validate"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    assert main(args) == 2
    assert expected in one_line(capsys.readouterr().err)


def test_a_sibling_command_that_is_not_there_names_the_distribution(pm, capsys) -> None:  # type: ignore[no-untyped-def]
    """``pm`` holds the core plugin only, as when only largeforge-core is installed."""
    assert main(["train", "sft", "--data", "x.json"]) == 2
    line = one_line(capsys.readouterr().err)
    try:
        importlib.metadata.version("largeforge-train")
    except importlib.metadata.PackageNotFoundError:  # nox's core session: core alone
        assert (
            line == "error: 'train' needs largeforge-train, which is not installed: "
            'pip install "largeforge-core[train]"'
        )
    else:
        assert (
            line == "error: 'train' comes from largeforge-train, which is installed but did not load "
            "(see 'largeforge plugins')"
        )


def test_the_click_typer_bundles_is_recognised() -> None:
    import typer

    from largeforge.cli.usage import click_exception_types

    assert issubclass(typer.BadParameter, click_exception_types())


def test_console_script_prints_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "largeforge.cli.main", "--bogus"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "No such option: --bogus" in one_line(proc.stderr)
