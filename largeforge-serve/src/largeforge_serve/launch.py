"""Start ``largeforge serve inference`` as a child process and wait until it serves.

For tests, benchmarks and programs (such as a router's end-to-end test) that need real
expert servers::

    with ServerProcess(["--model", path]) as proc:
        client = openai.OpenAI(base_url=proc.url, api_key="-")
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

_URL = re.compile(r"serving .* at (http://\S+/v1)")


class ServerProcess:
    """``largeforge serve inference ARGS`` on 127.0.0.1 (port 0 unless ``--port`` is given).

    ``start`` waits for the "serving … at URL" line; ``stop`` sends SIGINT (Ctrl+C) and waits.
    ``output`` holds everything the process printed (stdout and stderr merged).
    """

    def __init__(self, args: Sequence[str], *, timeout: float = 600.0, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        if "--port" not in self.args:
            self.args += ["--port", "0"]
        if "--host" not in self.args:
            self.args += ["--host", "127.0.0.1"]
        self.timeout = timeout
        self.env = {**os.environ, **(env or {})}
        self.url = ""
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def start(self) -> str:
        """Launch and return the base URL (``http://127.0.0.1:PORT/v1``)."""
        command = [sys.executable, "-m", "largeforge.cli.main", "serve", "inference", *self.args]
        self.env.setdefault("COLUMNS", "200")  # keep the URL line on one line
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the server did not start within {self.timeout:.0f}s:\n{self.output}")
        return self.url

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _URL.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl+C the server and return its exit code (killed if it does not stop in time)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.1)  # let the reader thread drain the last lines
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
