"""Running the app under uvicorn: in the foreground (CLI) or in a background thread (tests,
benchmarks, embedding in another program)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from largeforge_serve.engines.base import ServingEngine
from largeforge_serve.server.app import ObservedApp, ServerSettings, create_app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on connections accepted from a socket
    # whose proto is TCP. Without it (uvicorn on asyncio, i.e. without uvloop) the body of each
    # response, written after its headers, waited for the client's delayed ACK: ~40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class InferenceServer:
    """An OpenAI-compatible server for ``engine`` on ``host:port``.

    ``start()`` blocks until Ctrl+C / SIGTERM (uvicorn handles the signals and shuts down
    gracefully); ``start_background()`` returns once the server answers, and ``stop()`` ends it.
    """

    def __init__(
        self,
        engine: ServingEngine,
        settings: ServerSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_level: str = "warning",
    ) -> None:
        self.app: ObservedApp = create_app(engine, settings)
        self.settings = settings
        self.host = host
        self._sock = bind_socket(host, port)
        self.port = int(self._sock.getsockname()[1])
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level=log_level,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=max(1, int(settings.drain_timeout)),
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the OpenAI API (``…/v1``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    def start(self, on_ready: Callable[[str], Any] | None = None) -> None:
        """Serve until interrupted; ``on_ready(url)`` is called once the server answers."""
        if on_ready is not None:
            threading.Thread(target=self._notify_ready, args=(on_ready,), daemon=True).start()
        self._server.run(sockets=[self._sock])

    def _notify_ready(self, on_ready: Callable[[str], Any]) -> None:
        while not self._server.started:
            if self._server.should_exit:
                return
            time.sleep(0.05)
        on_ready(self.url)

    def start_background(self, timeout: float = 600.0) -> str:
        """Serve from a daemon thread; return the URL once startup (model load) is complete."""
        self._thread = threading.Thread(target=self.start, name="largeforge-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server failed to start (see the log)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not start within {timeout:.0f}s")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        """Shut down gracefully (in-flight requests finish or are cancelled) and wait."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.settings.drain_timeout + 30)
            self._thread = None

    def __enter__(self) -> InferenceServer:
        self.start_background()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
