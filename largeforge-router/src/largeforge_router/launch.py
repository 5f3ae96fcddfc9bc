"""Start ``largeforge router serve`` as a child process and wait until it listens.

For end-to-end tests and benchmarks::

    with RouterProcess("router.yaml") as router:
        client = openai.OpenAI(base_url=f"{router.url}/v1", api_key="-")
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_URL = re.compile(r"Router listening on (http://\S+)")


class RouterProcess:
    """``largeforge router serve --config CONFIG`` on 127.0.0.1 and a free port (unless given)."""

    def __init__(self, config: str | Path, *, port: int = 0, timeout: float = 300.0,
                 env: dict[str, str] | None = None) -> None:
        self.config = str(config)
        self.port = port
        self.timeout = timeout
        self.env = {**os.environ, "COLUMNS": "200", **(env or {})}
        self.url = ""
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return "\n".join(self.lines)

    def start(self) -> str:
        """Launch and return the base URL (``http://127.0.0.1:PORT``)."""
        command = [sys.executable, "-m", "largeforge.cli.main", "router", "serve", "--config", self.config,
                   "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the router exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the router did not start within {self.timeout:.0f}s:\n{self.output}")
        return self.url

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _URL.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl+C the router and return its exit code (killed if it does not stop in time)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> RouterProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
