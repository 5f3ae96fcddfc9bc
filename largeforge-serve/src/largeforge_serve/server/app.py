"""The Litestar application: OpenAI-compatible endpoints over a :class:`ServingEngine`."""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import uuid
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Stream
from litestar.types import Receive, Scope, Send

from largeforge import openai_contract as s
from largeforge.utils.logging import get_logger, request_context
from largeforge_serve import tool_calls
from largeforge_serve.engines.base import (
    EventStream,
    ServingEngine,
    StreamEvent,
    TokenLogprobs,
)
from largeforge_serve.engines.upstream import UpstreamEngine
from largeforge_serve.server import models
from largeforge_serve.server.errors import APIError, exception_handlers, parse_body
from largeforge_serve.server.gateway import Gateway
from largeforge_serve.server.metrics import CONTENT_TYPE, ServerMetrics
from largeforge_serve.server.openapi import openapi_document
from largeforge_serve.server.schemas import HealthResponse
from largeforge_serve.server.state import ServerSettings, ServingState, serving_state
from largeforge_serve.server.streaming import (
    SSE_HEADERS,
    cancel_on_disconnect,
    collect,
    sse,
    sse_events,
    submit,
    usage_of,
)
from largeforge_serve.server.translate import (
    chat_logprobs,
    chat_message,
    chat_messages,
    completion_logprobs,
    sampling_params,
)
from largeforge_serve.server.unsupported import refuse_unsupported

__all__ = ["ObservedApp", "ServerSettings", "ServingState", "create_app"]

log = get_logger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("largeforge-serve")
    except PackageNotFoundError:
        return "0"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@post("/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """OpenAI chat completions, streamed as SSE when ``stream`` is true."""
    state = serving_state(request)
    clock = state.metrics.clock(request.url.path, time.perf_counter())
    req: s.ChatCompletionRequest = parse_body(await request.body(), s.ChatCompletionRequest)
    refuse_unsupported(req)
    adapter = state.resolve_model(req.model)
    max_param = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
    params = sampling_params(
        req, req.max_completion_tokens or req.max_tokens, (req.top_logprobs or 0) if req.logprobs else None
    )
    messages = chat_messages(req)
    tools = [msgspec.to_builtins(t) for t in req.tools] if req.tools else None
    parse_tools = bool(tools) and req.tool_choice != "none"
    try:
        prompt = await anyio.to_thread.run_sync(state.engine.render_chat, messages, tools)
    except Exception as exc:  # a template may reject a conversation (roles must alternate, …)
        raise APIError(400, f"the model's chat template rejected the messages: {exc}", param="messages") from None
    try:
        stream = await submit(state, prompt, params, adapter, chat=True)
    except APIError as exc:
        if exc.body.param == "max_tokens":
            exc.body.param = max_param
        raise
    model = req.model or state.settings.model_name
    rid, created = _new_id("chatcmpl"), int(time.time())
    if not req.stream:
        async with cancel_on_disconnect(request, [stream]):
            text, last, logprobs = await collect(state, stream, clock)
        message, called = chat_message(text, parse_tools)
        choice = s.ChatChoice(
            0,
            message,
            "tool_calls" if called else last.finish_reason,
            chat_logprobs(logprobs) if req.logprobs else None,
        )
        body = s.ChatCompletionResponse(rid, created, model, [choice], usage_of(last))
        return Response(s.encoder.encode(body), media_type="application/json")

    def chunk(
        delta: s.Delta, finish: str | None = None, logprobs: list[TokenLogprobs] | None = None
    ) -> s.ChatCompletionChunk:
        lp = chat_logprobs(logprobs) if req.logprobs and logprobs else None
        return s.ChatCompletionChunk(rid, created, model, [s.ChunkChoice(0, delta, finish, lp)])

    first = sse(chunk(s.Delta(role="assistant", content="")))
    return Stream(
        sse_events(
            state, stream, _ChatChunks(chunk, parse_tools), _usage_chunk(req, rid, created, model), clock, first
        ),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


def _usage_chunk(req: s.SamplingFields, rid: str, created: int, model: str) -> Any:
    """Builds the final usage chunk when ``stream_options.include_usage`` asks for it (else None)."""
    if not (req.stream_options and req.stream_options.include_usage):
        return None
    if isinstance(req, s.ChatCompletionRequest):
        return lambda usage: s.ChatCompletionChunk(rid, created, model, [], usage=usage)
    return lambda usage: s.CompletionResponse(rid, created, model, [], usage=usage)


class _ChatChunks:
    """A chat stream's chunks per event: content as it comes, except what may be a tool call,
    which is held until the reply ends and then sent as ``tool_calls`` deltas (name, then arguments)."""

    def __init__(self, chunk: Any, parse_tools: bool) -> None:
        self.chunk = chunk
        self.parser = tool_calls.StreamParser() if parse_tools else None
        self.logprobs: list[TokenLogprobs] = []  # of tokens whose text is held back

    def __call__(self, event: StreamEvent) -> list[Any]:
        self.logprobs += event.logprobs or []
        text = event.text
        calls: list[tool_calls.ToolCall] = []
        if self.parser is not None:
            text = self.parser.feed(event.text)
            if event.finished:
                rest, calls = self.parser.finish()
                text += rest or ""
        out = []
        finish = event.finish_reason if event.finished and not calls else None
        if text or finish:
            out.append(self.chunk(s.Delta(content=text or None), finish, self._take()))
        for i, call in enumerate(calls):
            named = s.DeltaToolCall(i, s.DeltaFunction(name=call.name, arguments=""), id=call.id, type="function")
            out.append(self.chunk(s.Delta(tool_calls=[named]), None, self._take()))
            out.append(self.chunk(s.Delta(tool_calls=[s.DeltaToolCall(i, s.DeltaFunction(arguments=call.arguments))])))
        if calls:
            out.append(self.chunk(s.Delta(), "tool_calls"))
        return out

    def _take(self) -> list[TokenLogprobs]:
        taken, self.logprobs = self.logprobs, []
        return taken


@post("/completions", status_code=200)
async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """OpenAI text completions; a list of prompts yields one choice each (batched together)."""
    state = serving_state(request)
    started = time.perf_counter()
    req: s.CompletionRequest = parse_body(await request.body(), s.CompletionRequest)
    refuse_unsupported(req)
    adapter = state.resolve_model(req.model)
    params = sampling_params(req, req.max_tokens, req.logprobs)
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    model = req.model or state.settings.model_name
    rid, created = _new_id("cmpl"), int(time.time())
    if req.stream:
        if len(prompts) > 1:
            raise APIError(400, "streaming supports a single prompt", param="prompt")
        stream = await submit(state, prompts[0], params, adapter, chat=False)

        def chunks(event: StreamEvent) -> list[s.CompletionResponse]:
            if not (event.text or event.finished):
                return []
            lp = completion_logprobs(event.logprobs or []) if req.logprobs is not None else None
            return [
                s.CompletionResponse(rid, created, model, [s.CompletionChoice(0, event.text, event.finish_reason, lp)])
            ]

        return Stream(
            sse_events(
                state,
                stream,
                chunks,
                _usage_chunk(req, rid, created, model),
                state.metrics.clock(request.url.path, started),
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    streams: list[EventStream] = []
    try:
        for prompt in prompts:
            streams.append(await submit(state, prompt, params, adapter, chat=False))
    except APIError:
        for queued in streams:
            queued.cancel()
        raise
    try:
        async with cancel_on_disconnect(request, streams):
            results = await asyncio.gather(
                *(collect(state, stream, state.metrics.clock(request.url.path, started)) for stream in streams)
            )
    finally:
        for stream in streams:
            stream.cancel()
    choices = [
        s.CompletionChoice(i, text, last.finish_reason, completion_logprobs(lps) if req.logprobs is not None else None)
        for i, (text, last, lps) in enumerate(results)
    ]
    prompt_tokens = sum(last.prompt_tokens for _, last, _ in results)
    completion_tokens = sum(last.completion_tokens for _, last, _ in results)
    usage = s.Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
    body = s.CompletionResponse(rid, created, model, choices, usage=usage)
    return Response(s.encoder.encode(body), media_type="application/json")


@get("/health")
async def health(request: Request[Any, Any, Any]) -> Response[Any]:
    """healthy / degraded (saturated or slow) / unhealthy (model not loaded, HTTP 503)."""
    state = serving_state(request)
    stats = state.engine.stats()
    status: Any = "healthy"
    if not state.loaded or not getattr(state.engine, "is_alive", True):
        status = "unhealthy"
    elif stats.queued >= stats.max_queued > 0 or stats.step_seconds > state.settings.degraded_step_seconds:
        status = "degraded"
    body = HealthResponse(
        status,
        state.settings.model_name,
        round(time.time() - state.settings.started, 3),
        stats.active,
        stats.queued,
        state.settings.backend,
    )
    return Response(
        s.encoder.encode(body), media_type="application/json", status_code=503 if status == "unhealthy" else 200
    )


@get("/openapi.json")
async def openapi(request: Request[Any, Any, Any]) -> Response[bytes]:
    """This server's OpenAPI 3.1 document (what it accepts and returns)."""
    return Response(serving_state(request).openapi, media_type="application/json")


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text format (an upstream engine's own metrics follow LargeForge's)."""
    state = serving_state(request)
    text = state.metrics.render()
    if state.gateway is not None:
        text += await state.gateway.upstream_metrics()
    return Response(text, media_type=CONTENT_TYPE)


def _api_key_guard(keys: tuple[str, ...]) -> Any:
    encoded = [k.encode() for k in keys]

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
        supplied = token.strip().encode()
        # Compare with every key, always, in constant time: timing reveals nothing.
        matched = False
        for key in encoded:
            matched |= hmac.compare_digest(supplied, key)
        if scheme.lower() != "bearer" or not matched:
            raise NotAuthorizedException("Incorrect or missing API key: send 'Authorization: Bearer <key>'")

    return guard


class ObservedApp:
    """ASGI wrapper around the Litestar app: request ids (``X-Request-ID``), access log, metrics.

    It sits outside Litestar so that every response, including 404s for unknown routes, carries
    a request id and is counted.
    """

    def __init__(self, app: Litestar, state: ServingState) -> None:
        self.litestar = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.litestar(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with request_context(request_id):
            try:
                await self.litestar(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                self.state.metrics.observe(scope["path"], status, elapsed)
                log.info("%s %s %d %.3fs", scope.get("method"), scope["path"], status, elapsed)


def create_app(engine: ServingEngine, settings: ServerSettings) -> ObservedApp:
    """The ASGI app serving ``engine``. Its lifespan loads the engine (if needed) on startup
    and on shutdown lets in-flight requests finish for ``settings.drain_timeout`` seconds."""
    state = ServingState(engine, settings, ServerMetrics(engine.stats))
    state.openapi = msgspec.json.encode(
        openapi_document(
            title=f"LargeForge server: {settings.model_name}", version=_version(), secured=bool(settings.api_keys)
        )
    )
    generation: list[Any] = [chat_completions, completions]
    if isinstance(engine, UpstreamEngine):
        state.gateway = Gateway(engine, state)
        generation = state.gateway.route_handlers()

    async def startup() -> None:
        load = getattr(engine, "load", None)
        if load is not None and not getattr(engine, "is_loaded", True):
            await anyio.to_thread.run_sync(load)
        if state.gateway is not None:
            await state.gateway.open()
        state.loaded = True

    async def shutdown() -> None:
        state.loaded = False
        if state.gateway is not None:
            await state.gateway.close()
        stop = getattr(engine, "shutdown", None)
        if stop is not None:
            await anyio.to_thread.run_sync(stop, settings.drain_timeout)

    v1 = Router(
        "/v1",
        route_handlers=[*generation, *models.ROUTES],
        guards=[_api_key_guard(settings.api_keys)] if settings.api_keys else None,
    )
    app = Litestar(
        route_handlers=[v1, health, metrics, openapi],
        exception_handlers=exception_handlers(),
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), expose_headers=["X-Request-ID"]),
        request_max_body_size=settings.max_body_size,
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_config=None,
        logging_config=None,
    )
    app.state.serving = state
    return ObservedApp(app, state)
