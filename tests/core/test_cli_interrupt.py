"""``main()`` lets Ctrl+C through (it returned 130, so an in-process caller
such as pytest kept running and needed several Ctrl+C); the console script exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import typer

from largeforge import hookimpl
from largeforge.cli.main import main


class Interrupting:
    @hookimpl
    def register_commands(self, app: typer.Typer) -> None:
        @app.command("interrupt-me")
        def interrupt_me() -> None:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl+C
            time.sleep(30)


def test_main_lets_ctrl_c_through(pm) -> None:  # type: ignore[no-untyped-def]
    pm.register(Interrupting(), name="interrupting")
    with pytest.raises(KeyboardInterrupt):
        main(["interrupt-me"])


def test_console_script_exits_130_on_ctrl_c() -> None:
    code = (
        "import time, typer\nfrom largeforge.cli import main as m\n"
        "m.create_app = lambda pm=None: (lambda **kw: time.sleep(60))\nm.run()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "Interrupted."
