"""A command that a program starts as a child process (``CommandProcess``) dies with its parent —
whether the parent is stopped by Ctrl+C (SIGINT) or killed outright (SIGKILL) — instead of being
left running, orphaned to PID 1. The child is a third party's command that never ends."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_child_dies_with_parent, fake_distribution, with_path_entry

#: A plugin whose ``largeforge wait`` says it is ready and then waits, like a server.
WAIT_PLUGIN = """
import time

from largeforge import hookimpl

@hookimpl
def register_commands(app):
    @app.command("wait")
    def wait() -> None:
        print("ready at http://127.0.0.1:9", flush=True)
        time.sleep(600)
"""

PARENT = """
import re, time
from largeforge.utils.process import CommandProcess
command = CommandProcess(["wait"], ready=re.compile(r"ready at (\\S+)"), timeout=120)
assert command.start() == "http://127.0.0.1:9"
print(command.proc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_child_command_dies_with_its_parent(tmp_path: Path, how: signal.Signals) -> None:
    fake_distribution(tmp_path, "lf-wait", "0.1.0", "wait", "lf_wait_plugin", WAIT_PLUGIN)
    assert_child_dies_with_parent(PARENT, [], how, PYTHONPATH=with_path_entry(tmp_path)["PYTHONPATH"])
