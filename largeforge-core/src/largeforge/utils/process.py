"""Run a ``largeforge`` command as a child process and wait until it says it is ready.

The base of the serve and router launchers that tests, benchmarks and programs use to start
real servers::

    with CommandProcess(["serve", "inference", ...], ready=re.compile(r"at (http://\\S+)")) as proc:
        ...  # proc.url is the first group of the ready line

A child never outlives its parent: on Linux it gets SIGTERM when the parent dies, however it
dies (``PR_SET_PDEATHSIG``), and every child still running is stopped at interpreter exit (a
Ctrl+C of a test run included), so no test server is left orphaned.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

_P = TypeVar("_P", bound="CommandProcess")
_RUNNING: weakref.WeakSet[CommandProcess] = weakref.WeakSet()
_PR_SET_PDEATHSIG = 1


def largeforge_command(*args: str) -> list[str]:
    """The argv of ``largeforge ARGS`` run by this interpreter (a child process, a plugin's service)."""
    return [sys.executable, "-m", "largeforge.cli.main", *args]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _parent_death_hook() -> Callable[[], None] | None:
    # The signal fires when the *thread* that started the child ends: only the main thread,
    # which lives as long as the process, may use it.
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


def stop_all(timeout: float = 10.0) -> None:
    """Stop every :class:`CommandProcess` still running (registered to run at exit)."""
    for process in list(_RUNNING):
        process.stop(timeout)


atexit.register(stop_all)


class CommandProcess:
    """``largeforge ARGS`` in a child process (stdout and stderr merged into ``lines``).

    ``start`` waits until a line matches ``ready`` and returns its first group (``url``);
    ``stop`` sends SIGINT (Ctrl+C) and waits, killing the process if it does not stop in time.
    """

    #: What the process is, in error messages.
    name = "the command"

    def __init__(
        self, args: Sequence[str], *, ready: re.Pattern[str], timeout: float = 600.0, env: dict[str, str] | None = None
    ) -> None:
        self.args = list(args)
        self.ready = ready
        self.timeout = timeout
        # A wide terminal keeps the ready line (it holds a URL) on one line.
        self.env = {**os.environ, "COLUMNS": "200", **(env or {})}
        self.url = ""
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        return "\n".join(self.lines)

    def start(self) -> str:
        """Launch, wait for the ready line and return the URL it names."""
        self.proc = subprocess.Popen(
            largeforge_command(*self.args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            preexec_fn=_parent_death_hook(),
        )
        _RUNNING.add(self)
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None:
                reader.join(5)  # it may have printed the ready line just before exiting
                if self._ready.is_set():
                    break
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name} did not start within {self.timeout:.0f}s:\n{self.output}")
        return self.url

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = self.ready.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl+C the process and return its exit code (killed if it does not stop in time)."""
        if self.proc is None:
            return 0
        _RUNNING.discard(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.1)  # let the reader thread drain the last lines
        return self.proc.returncode

    def __enter__(self: _P) -> _P:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
