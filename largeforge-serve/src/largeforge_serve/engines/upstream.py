"""An inference engine's own OpenAI-compatible server, run as a managed child process.

llama.cpp's ``llama-server`` and vLLM's OpenAI server already implement the OpenAI API in depth
(tools, ``response_format``, ``logprobs``, penalties, continuous batching). Rather than wrap their
engines again, LargeForge starts the engine's server on a loopback port and puts its own gateway
(:mod:`largeforge_serve.server.gateway`) in front: API keys, request ids, backpressure, adapters
by name and metrics, the same for every engine.

A backend subclasses :class:`UpstreamEngine` and says how to start its server
(:meth:`~UpstreamEngine.command`) and how a request picks an adapter
(:meth:`~UpstreamEngine.upstream_body`).
"""

from __future__ import annotations

import abc
import collections
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.errors import LargeForgeError
from largeforge.utils.logging import get_logger
from largeforge_serve.engines.base import EngineStats, ServeEngineBase

if TYPE_CHECKING:
    from largeforge.config import GenerationConfig, InferenceConfig

log = get_logger(__name__)


class UpstreamStartError(LargeForgeError):
    """The engine's server exited or did not become ready; the message ends with its last lines."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Admission:
    """Counts the requests in flight to the upstream and refuses those beyond its capacity.

    The upstream engine schedules and batches by itself; the gateway only bounds how many
    requests it may hold (``max_active`` decoding + ``max_queued`` waiting) so that overload
    is a quick 503 with ``Retry-After`` instead of an ever longer queue.
    """

    def __init__(self, max_active: int, max_queued: int) -> None:
        self.max_active = max_active
        self.max_queued = max_queued
        self.in_flight = 0

    @property
    def capacity(self) -> int:
        return self.max_active + self.max_queued

    def try_enter(self) -> bool:
        """Take a place (False when full). Single-threaded: called on the event loop only."""
        if self.in_flight >= self.capacity:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def retry_after(self) -> int:
        """Seconds a refused client should wait: longer the deeper the backlog."""
        return max(1, min(30, self.in_flight // max(1, self.max_active)))

    def stats(self) -> EngineStats:
        active = min(self.in_flight, self.max_active)
        return EngineStats(
            active=active, queued=self.in_flight - active, max_active=self.max_active, max_queued=self.max_queued
        )


class UpstreamEngine(ServeEngineBase):
    """Base of the backends whose own OpenAI server runs as a child process on loopback.

    ``load`` starts the server and waits until ``ready_path`` answers 200; ``unload`` stops its
    whole process group (SIGTERM, then SIGKILL). ``adapters`` map the names clients use in
    ``model`` to adapter files; the subclass turns a name into what its server expects.
    """

    backend_name: ClassVar[str] = "upstream"
    #: Seconds the server may take to become ready.
    startup_timeout: ClassVar[float] = 300.0
    #: GET path answering 200 once the model is loaded.
    ready_path: ClassVar[str] = "/health"
    #: GET path of the server's Prometheus metrics (appended to LargeForge's ``/metrics``).
    metrics_path: ClassVar[str] = "/metrics"
    #: Lines of the child's output kept for error messages.
    keep_lines: ClassVar[int] = 200
    #: Whether the server closes a connection after a streamed answer without saying so: the
    #: gateway then asks for ``Connection: close`` on streams rather than reuse a dead connection.
    close_after_stream: ClassVar[bool] = False
    #: The environment variable whose words are the server's extra arguments when none are passed.
    extra_args_env: ClassVar[str | None] = None

    def __init__(
        self,
        model_path: str,
        config: InferenceConfig | None = None,
        *,
        extra_args: tuple[str, ...] = (),
        **options: Any,
    ) -> None:
        super().__init__(model_path, config, **options)
        from_env = os.environ.get(self.extra_args_env, "") if self.extra_args_env else ""
        #: More arguments for the server, appended as given (``extra_args_env``'s when none are passed).
        self.extra_args = tuple(extra_args) or tuple(from_env.split())
        self.admission = Admission(self.max_batch_size, self.max_queue)
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=self.keep_lines)
        self._reader: threading.Thread | None = None

    # -- what a backend says ------------------------------------------------------------

    @abc.abstractmethod
    def command(self, host: str, port: int) -> list[str]:
        """The command line that starts the engine's server on ``host:port``."""

    def environment(self) -> dict[str, str]:
        """Environment variables for the server process (on top of this process's)."""
        return {}

    def check(self) -> None:
        """Refuse bad input in one line (:class:`~largeforge.errors.ConfigError`) before starting."""

    @property
    def served_model_name(self) -> str:
        """What the upstream calls the base model (sent as ``model`` upstream)."""
        return "base"

    def upstream_body(self, body: dict[str, Any], adapter: str | None) -> dict[str, Any]:
        """The client's JSON body as the upstream should get it; ``adapter`` is None for the base."""
        body["model"] = adapter or self.served_model_name
        return body

    def refused_request(self, status: int, content: bytes) -> bool:
        """Whether an upstream error answer is really about the client's request (the gateway
        then answers 400): engines that report some bad input as a 500 say so here."""
        return False

    def error_code(self, status: int, error: Mapping[str, Any], *, chat: bool) -> tuple[str | None, str | None] | None:
        """OpenAI's ``(code, param)`` for an upstream error (its ``error`` object) that the engine
        reports its own way, such as a prompt longer than the context; None keeps the engine's."""
        return None

    # -- the server contract ---------------------------------------------------------------

    @property
    def adapter_names(self) -> Sequence[str]:
        return list(self.adapters)

    @property
    def max_model_len(self) -> int:
        return int(self.config.max_model_len)

    @property
    def upstream_url(self) -> str:
        """Base URL of the upstream server (no ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def is_loaded(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def is_alive(self) -> bool:
        """Whether the child process is still running."""
        return self.is_loaded

    def stats(self) -> EngineStats:
        return self.admission.stats()

    def last_output(self, lines: int = 20) -> str:
        """The child's last ``lines`` lines of output."""
        return "\n".join(list(self.output)[-lines:])

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Start the engine's server and wait until it is ready."""
        if self.is_loaded:
            return
        self.check()
        self.port = self.port or free_port(self.host)
        command = self.command(self.host, self.port)
        log.info("starting %s: %s", self.backend_name, " ".join(command))
        self.output.clear()
        # A session of its own: stopping the group reaches every worker the server forks.
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.environment()},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_output, name=f"{self.backend_name}-output", daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.unload()
            raise

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            log.debug("%s: %s", self.backend_name, line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = self.upstream_url + self.ready_path
        while True:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                if self._reader is not None:
                    self._reader.join(timeout=2)
                raise UpstreamStartError(
                    f"{self.backend_name} server exited with code {code} while starting:\n{self.last_output()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise UpstreamStartError(
                    f"{self.backend_name} server was not ready after {self.startup_timeout:.0f}s:\n{self.last_output()}"
                )
            time.sleep(0.2)

    def unload(self) -> None:
        """Stop the server's whole process group; SIGKILL what has not ended after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # workers left in the group (the leader may have gone first)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.stdout is not None:
            proc.stdout.close()

    def shutdown(self, timeout: float | None = None) -> None:
        """The server app's shutdown hook: stop the child."""
        self.unload()

    # -- the core engine contract (blocking; the HTTP path goes through the gateway) ---------

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.upstream_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        return urllib.request.urlopen(request, timeout=600)

    def _completion_body(self, prompt: str, config: GenerationConfig | None, stream: bool) -> dict[str, Any]:
        from largeforge.config import GenerationConfig

        config = config or GenerationConfig()
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": stream,
        }
        if config.stop:
            body["stop"] = config.stop
        if config.seed is not None:
            body["seed"] = config.seed
        return self.upstream_body(body, None)

    def generate(self, prompt: str, config: GenerationConfig | None = None) -> str:
        """Complete ``prompt`` (a plain text completion of the base model)."""
        with self._post("/v1/completions", self._completion_body(prompt, config, False)) as response:
            return str(json.load(response)["choices"][0]["text"])

    def generate_stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the completion of ``prompt`` as the server streams it."""
        with self._post("/v1/completions", self._completion_body(prompt, config, True)) as response:
            for raw in response:
                line = raw.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[6:]).get("choices") or []
                if choices and choices[0].get("text"):
                    yield str(choices[0]["text"])

    @property
    def model_info(self) -> dict[str, Any]:
        return {**super().model_info, "device": "cpu", "upstream": self.upstream_url}
