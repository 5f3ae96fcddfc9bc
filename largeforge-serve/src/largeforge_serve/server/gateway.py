"""The gateway in front of an :class:`~largeforge_serve.engines.upstream.UpstreamEngine`.

``/v1/chat/completions`` and ``/v1/completions`` are checked against LargeForge's OpenAI
contract (:mod:`largeforge.openai_contract`: what the transformers server refuses is refused
here alike, before the engine sees it), then forwarded to the engine's own server with the
client's body as it came (only ``model`` is rewritten, by the engine, to pick the base model or
an adapter), so every parameter the engine implements reaches it. Answers, streamed ones event
by event, are restated in OpenAI's shapes (:mod:`largeforge_serve.server.conform`): every field
the engine returns reaches the client, and the ones OpenAI requires are there.

The gateway adds what LargeForge promises on every backend: API keys (the ``/v1`` guard),
request ids (forwarded as ``X-Request-ID``), model names checked against the adapters
(404 ``model_not_found``), backpressure (503 with ``Retry-After`` beyond the admission
capacity), cancellation when the client goes away, and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from litestar import asgi
from litestar.exceptions import MethodNotAllowedException

from largeforge.openai_contract import ChatCompletionRequest, CompletionRequest
from largeforge.utils.logging import get_logger, request_id_var
from largeforge_serve.engines.upstream import UpstreamEngine
from largeforge_serve.server.conform import EventRewriter, conform_answer, conform_error
from largeforge_serve.server.errors import APIError, parse_body

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
        # Idle connections are dropped after 4 s, before the engines' servers drop them (5 s for
        # llama-server and uvicorn): a request never goes out on a connection being closed.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)
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
        request = parse_body(body, ChatCompletionRequest if path.endswith("/chat/completions") else CompletionRequest)
        payload = msgspec.json.decode(body)  # an object: the contract took it
        adapter = self.state.resolve_model(request.model)
        model = request.model or self.state.settings.model_name
        admission = self.engine.admission
        if not admission.try_enter():
            raise APIError(
                503,
                f"the server is busy ({admission.in_flight} requests in flight); retry later",
                code="server_overloaded",
                headers={"Retry-After": str(admission.retry_after())},
            )
        try:
            data = msgspec.json.encode(self.engine.upstream_body(payload, adapter))
            usage = bool(request.stream_options and request.stream_options.include_usage)
            relay = asyncio.ensure_future(
                self._relay(path, data, send, EventRewriter(model, usage), stream=request.stream)
            )
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

    async def _relay(self, path: str, data: bytes, send: Any, events: EventRewriter, *, stream: bool) -> None:
        """POST ``data`` upstream and send the answer in OpenAI's shapes (``events`` restates a
        streamed one)."""
        if self.session is None:
            raise APIError(503, "the server is starting", code="server_starting", headers={"Retry-After": "1"})
        headers = {"Content-Type": "application/json"}
        if stream and self.engine.close_after_stream:
            headers["Connection"] = "close"
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        started = time.perf_counter()
        answered = False  # once the response has started, an error can only end it
        try:
            async with self.session.post(self.engine.upstream_url + path, data=data, headers=headers) as response:
                out = [
                    (k.encode(), v.encode("latin-1"))
                    for k in _PASSED_HEADERS
                    if (v := response.headers.get(k)) is not None
                ]
                streaming = response.headers.get("content-type", "").startswith("text/event-stream")
                if not streaming:
                    content = await response.read()
                    status = response.status
                    if status >= 500 and self.engine.refused_request(status, content):
                        status = 400
                    content = self._conform(status, content, events.model, chat=path.endswith("/chat/completions"))
                    answered = True
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status,
                            "headers": [*out, (b"content-length", str(len(content)).encode())],
                        }
                    )
                    await send({"type": "http.response.body", "body": content})
                    if response.status == 200:
                        self._count_usage(content)
                    return
                answered = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [*out, (b"x-accel-buffering", b"no")],
                    }
                )
                first = True
                async for chunk in response.content.iter_any():
                    if first:
                        self.state.metrics.observe_first_token(path, time.perf_counter() - started)
                        first = False
                    if out_chunk := events.feed(chunk):
                        await send({"type": "http.response.body", "body": out_chunk, "more_body": True})
                await send({"type": "http.response.body", "body": events.flush()})
        except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError, OSError) as exc:
            if answered:
                log.warning("the %s engine dropped a response midway: %s", self.engine.backend_name, exc)
                return
            if not self.engine.is_alive:
                raise APIError(
                    503,
                    f"the {self.engine.backend_name} engine is not running",
                    code="engine_unavailable",
                    headers={"Retry-After": "5"},
                ) from None
            raise APIError(
                502,
                f"the {self.engine.backend_name} engine did not answer: {exc}",
                type="server_error",
                code="upstream_error",
            ) from None

    def _conform(self, status: int, content: bytes, model: str, *, chat: bool) -> bytes:
        """An unstreamed upstream answer in OpenAI's shapes (see :mod:`~largeforge_serve.server.conform`)."""
        if status >= 400:
            return conform_error(status, content, functools.partial(self.engine.error_code, chat=chat))
        try:
            return msgspec.json.encode(conform_answer(msgspec.json.decode(content), model))
        except msgspec.DecodeError:
            return content

    def _count_usage(self, content: bytes) -> None:
        try:
            usage = msgspec.json.decode(content, type=_UsageOnly).usage
        except msgspec.DecodeError:
            return
        if usage is not None:
            self.state.metrics.count_tokens(usage.prompt_tokens, usage.completion_tokens)
