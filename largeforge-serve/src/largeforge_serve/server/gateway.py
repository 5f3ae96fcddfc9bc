"""The gateway in front of an :class:`~largeforge_serve.engines.upstream.UpstreamEngine`.

``/v1/chat/completions`` and ``/v1/completions`` are forwarded to the engine's own server with
the client's body as it came (only ``model`` is rewritten, by the engine, to pick the base model
or an adapter), so every parameter the engine implements reaches it and every field it returns
reaches the client. Responses, streamed ones included, are passed through chunk by chunk.

The gateway adds what LargeForge promises on every backend: API keys (the ``/v1`` guard),
request ids (forwarded as ``X-Request-ID``), model names checked against the adapters
(404 ``model_not_found``), backpressure (503 with ``Retry-After`` beyond the admission
capacity), cancellation when the client goes away, and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from litestar import asgi
from litestar.exceptions import MethodNotAllowedException

from largeforge.utils.logging import get_logger, request_id_var
from largeforge_serve.engines.upstream import UpstreamEngine
from largeforge_serve.server.errors import APIError

if TYPE_CHECKING:
    from largeforge_serve.server.app import ServingState

log = get_logger(__name__)

#: Response headers of the upstream passed on to the client (the rest are hop-by-hop or its own).
_PASSED_HEADERS = ("content-type", "cache-control")


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _UsageOnly(msgspec.Struct):
    usage: _Usage | None = None


def _as_request_error(content: bytes) -> bytes:
    """An upstream error body restated as an OpenAI ``invalid_request_error`` (its message kept)."""
    try:
        message = str(msgspec.json.decode(content)["error"]["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        message = content.decode("utf-8", "replace")[:2000]
    return msgspec.json.encode({"error": {"message": message, "type": "invalid_request_error",
                                          "param": None, "code": None}})


class Gateway:
    """Forwards the generation endpoints of one app to its upstream engine's server."""

    def __init__(self, engine: UpstreamEngine, state: ServingState) -> None:
        self.engine = engine
        self.state = state
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the connection pool (on the server's event loop)."""
        # No total timeout: a long generation is not a fault. Connecting must be quick (loopback).
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        self.session = aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def route_handlers(self) -> list[Any]:
        """The ASGI route handlers of the forwarded endpoints (mounted under ``/v1``)."""

        @asgi("/chat/completions", copy_scope=False)
        async def chat_completions(scope: Any, receive: Any, send: Any) -> None:
            await self.forward(scope, receive, send, "/v1/chat/completions")

        @asgi("/completions", copy_scope=False)
        async def completions(scope: Any, receive: Any, send: Any) -> None:
            await self.forward(scope, receive, send, "/v1/completions")

        return [chat_completions, completions]

    async def upstream_metrics(self) -> bytes:
        """The upstream server's own Prometheus text (empty when it has none or is down)."""
        if self.session is None:
            return b""
        try:
            async with self.session.get(self.engine.upstream_url + self.engine.metrics_path) as response:
                return await response.read() if response.status == 200 else b""
        except (aiohttp.ClientError, OSError):
            return b""

    async def forward(self, scope: Any, receive: Any, send: Any, path: str) -> None:
        """Check, admit and forward one request; relay the answer until done or disconnected."""
        if scope["method"] != "POST":
            raise MethodNotAllowedException(headers={"Allow": "POST"})
        body = await self._read_body(receive)
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise APIError(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise APIError(400, "the request body must be a JSON object")
        model = payload.get("model")
        if model is not None and not isinstance(model, str):
            raise APIError(400, "'model' must be a string", param="model")
        adapter = self.state.resolve_model(model)
        admission = self.engine.admission
        if not admission.try_enter():
            raise APIError(503, f"the server is busy ({admission.in_flight} requests in flight); retry later",
                           code="server_overloaded", headers={"Retry-After": str(admission.retry_after())})
        try:
            data = msgspec.json.encode(self.engine.upstream_body(payload, adapter))
            relay = asyncio.ensure_future(self._relay(path, data, send))
            gone = asyncio.ensure_future(self._wait_disconnect(receive))
            done, _ = await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
            if relay not in done:  # the client went away: closing the upstream request aborts it there
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
                log.info("client disconnected; request cancelled upstream")
            gone.cancel()
            if relay in done:
                relay.result()
        finally:
            admission.leave()

    async def _read_body(self, receive: Any) -> bytes:
        from largeforge.utils.asgi import BodyTooLarge, ClientGone, read_body

        try:
            return await read_body(receive, self.state.settings.max_body_size)
        except BodyTooLarge:
            raise APIError(413, "the request body is too large", code="request_too_large") from None
        except ClientGone:
            raise APIError(400, "client disconnected before sending the whole body") from None

    @staticmethod
    async def _wait_disconnect(receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _relay(self, path: str, data: bytes, send: Any) -> None:
        if self.session is None:
            raise APIError(503, "the server is starting", code="server_starting", headers={"Retry-After": "1"})
        headers = {"Content-Type": "application/json"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        started = time.perf_counter()
        answered = False  # once the response has started, an error can only end it
        try:
            async with self.session.post(self.engine.upstream_url + path, data=data, headers=headers) as response:
                out = [(k.encode(), v.encode("latin-1")) for k in _PASSED_HEADERS
                       if (v := response.headers.get(k)) is not None]
                streaming = response.headers.get("content-type", "").startswith("text/event-stream")
                if not streaming:
                    content = await response.read()
                    status = response.status
                    if status >= 500 and self.engine.refused_request(status, content):
                        status, content = 400, _as_request_error(content)
                    answered = True
                    await send({"type": "http.response.start", "status": status,
                                "headers": [*out, (b"content-length", str(len(content)).encode())]})
                    await send({"type": "http.response.body", "body": content})
                    if response.status == 200:
                        self._count_usage(content)
                    return
                answered = True
                await send({"type": "http.response.start", "status": response.status,
                            "headers": [*out, (b"x-accel-buffering", b"no")]})
                first = True
                async for chunk in response.content.iter_any():
                    if first:
                        self.state.metrics.observe_first_token(path, time.perf_counter() - started)
                        first = False
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError, OSError) as exc:
            if answered:
                log.warning("the %s engine dropped a response midway: %s", self.engine.backend_name, exc)
                return
            if not self.engine.is_alive:
                raise APIError(503, f"the {self.engine.backend_name} engine is not running",
                               code="engine_unavailable", headers={"Retry-After": "5"}) from None
            raise APIError(502, f"the {self.engine.backend_name} engine did not answer: {exc}",
                           type="server_error", code="upstream_error") from None

    def _count_usage(self, content: bytes) -> None:
        try:
            usage = msgspec.json.decode(content, type=_UsageOnly).usage
        except msgspec.DecodeError:
            return
        if usage is not None:
            self.state.metrics.count_tokens(usage.prompt_tokens, usage.completion_tokens)
