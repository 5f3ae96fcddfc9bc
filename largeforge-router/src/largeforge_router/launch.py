"""Start ``largeforge router serve`` as a child process and wait until it listens.

For end-to-end tests and benchmarks::

    with RouterProcess("router.yaml") as router:
        client = openai.OpenAI(base_url=f"{router.url}/v1", api_key="-")
"""

from __future__ import annotations

import re
from pathlib import Path

from largeforge.utils.process import CommandProcess

_URL = re.compile(r"Router listening on (http://\S+)")


class RouterProcess(CommandProcess):
    """``largeforge router serve --config CONFIG`` on 127.0.0.1 and a free port (unless given).

    ``start`` returns the base URL (``http://127.0.0.1:PORT``)."""

    name = "the router"

    def __init__(
        self, config: str | Path, *, port: int = 0, timeout: float = 300.0, env: dict[str, str] | None = None
    ) -> None:
        self.config = str(config)
        self.port = port
        super().__init__(
            ["router", "serve", "--config", self.config, "--host", "127.0.0.1", "--port", str(port)],
            ready=_URL,
            timeout=timeout,
            env=env,
        )
