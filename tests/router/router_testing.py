"""Servers for router tests: a small, real OpenAI-compatible expert (plain ``http.server`` on
127.0.0.1) and :func:`serve_app`, which runs the router app with uvicorn in a thread.

It answers ``/health``, ``/v1/chat/completions`` (streamed or not) and ``/v1/completions`` with
text that names the expert, records every request body, and can be switched to failing (HTTP
500) or stopped and restarted on the same port to play a dead replica that comes back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ExpertServer:
    """One replica of an expert; ``url`` is its base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.fail = False  # answer 500 to generation requests
        #: seconds a stream stays open after its ``[DONE]`` (a slow server closing)
        self.linger = 0.0
        #: when set, generation requests get this (status, headers, body) instead
        self.reply: tuple[int, dict[str, str], dict[str, Any]] | None = None
        #: when set, a stream pauses after its first chunk until this event is set
        self.hold: threading.Event | None = None
        #: seconds a generation request waits before its answer (a replica with a long queue)
        self.delay = 0.0
        #: seconds /health waits before answering (a hung replica, when longer than the probe's timeout)
        self.health_delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ExpertServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without NODELAY each response
                # would wait for a delayed ACK.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    time.sleep(owner.health_delay)
                    self._send(200, {"status": "ok", "expert": owner.name})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                owner.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                time.sleep(owner.delay)
                if owner.reply is not None:
                    self._send(owner.reply[0], owner.reply[2], owner.reply[1])
                    return
                if owner.fail:
                    self._send(500, {"error": {"message": f"{owner.name} is broken", "type": "server_error"}})
                    return
                if self.path == "/v1/chat/completions":
                    messages = body.get("messages") or [{}]
                    text = f"[{owner.name}] {messages[-1].get('content', '')}"
                    kind, obj = "chat", "chat.completion"
                elif self.path == "/v1/completions":
                    text, kind, obj = f"[{owner.name}] {body.get('prompt', '')}", "text", "text_completion"
                else:
                    self._send(404, {"error": {"message": "not found"}})
                    return
                if body.get("stream"):
                    self._stream(text, kind, body)
                    return
                choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
                if kind == "chat":
                    choice["message"] = {"role": "assistant", "content": text}
                else:
                    choice["text"] = text
                self._send(
                    200,
                    {
                        "id": "x1",
                        "object": obj,
                        "created": int(time.time()),
                        "model": body.get("model", owner.name),
                        "choices": [choice],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
                    },
                )

            def _stream(self, text: str, kind: str, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = text.split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    if kind == "chat":
                        choice: dict[str, Any] = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        obj = "chat.completion.chunk"
                    else:
                        choice, obj = {"index": 0, "text": piece, "finish_reason": None}, "text_completion"
                    chunk = {
                        "id": "x1",
                        "object": obj,
                        "created": 0,
                        "model": body.get("model", ""),
                        "choices": [choice],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if i == 0 and owner.hold is not None:
                        owner.hold.wait(10)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                time.sleep(owner.linger)
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to :attr:`url` are refused until :meth:`start`."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see `router serve`
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("router app did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
