"""Start ``largeforge serve inference`` as a child process and wait until it serves.

For tests, benchmarks and programs (such as a router's end-to-end test) that need real
expert servers::

    with ServerProcess(["--model", path]) as proc:
        client = openai.OpenAI(base_url=proc.url, api_key="-")
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from largeforge.utils.process import CommandProcess

_URL = re.compile(r"serving .* at (http://\S+/v1)")


class ServerProcess(CommandProcess):
    """``largeforge serve inference ARGS`` on 127.0.0.1 (port 0 unless ``--port`` is given).

    ``start`` waits for the "serving … at URL" line and returns the URL
    (``http://127.0.0.1:PORT/v1``); ``stop`` sends SIGINT (Ctrl+C) and waits. ``output`` holds
    everything the process printed (stdout and stderr merged).
    """

    name = "the server"

    def __init__(self, args: Sequence[str], *, timeout: float = 600.0, env: dict[str, str] | None = None) -> None:
        args = list(args)
        if "--port" not in args:
            args += ["--port", "0"]
        if "--host" not in args:
            args += ["--host", "127.0.0.1"]
        super().__init__(["serve", "inference", *args], ready=_URL, timeout=timeout, env=env)
