"""A request's life on the engine: queueing it, collecting a whole answer, cancelling it when the
client goes away, and the server-sent events of a streamed one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar import Request

from largeforge import openai_contract as s
from largeforge.utils.logging import get_logger, request_id_var
from largeforge_serve.engines.base import (
    EngineOverloadedError,
    EngineRequestError,
    EventStream,
    SamplingParams,
    StreamEvent,
    TokenLogprobs,
)
from largeforge_serve.server.errors import APIError, generation_error
from largeforge_serve.server.metrics import TokenClock
from largeforge_serve.server.state import ServingState

log = get_logger(__name__)


async def submit(
    state: ServingState, prompt: str, params: SamplingParams, adapter: str | None, chat: bool
) -> EventStream:
    """Queue a prompt; an engine with ``asubmit`` encodes it off the event loop."""
    asubmit = getattr(state.engine, "asubmit", None)
    try:
        if asubmit is not None:
            stream: EventStream = await asubmit(
                prompt, params, adapter=adapter, chat=chat, request_id=request_id_var.get()
            )
            return stream
        return state.engine.submit(prompt, params, adapter=adapter, chat=chat, request_id=request_id_var.get())
    except EngineOverloadedError as exc:
        raise APIError(503, str(exc), code="server_overloaded", headers={"Retry-After": str(exc.retry_after)}) from None
    except EngineRequestError as exc:
        raise APIError(400, str(exc), param=exc.param, code=exc.code) from None


def check_event(event: StreamEvent) -> None:
    """Raise the API error an engine event carries (a failed or cancelled generation)."""
    if event.error:
        raise generation_error(event.error, event.fault)
    if event.finish_reason == "cancelled":
        raise APIError(503, "the server is shutting down", code="server_shutting_down", headers={"Retry-After": "5"})


async def collect(
    state: ServingState, stream: EventStream, clock: TokenClock
) -> tuple[str, StreamEvent, list[TokenLogprobs]]:
    """The whole text of a request, its last event and its tokens' logprobs (if asked for)."""
    parts: list[str] = []
    logprobs: list[TokenLogprobs] = []
    last: StreamEvent | None = None
    try:
        async for event in stream:
            check_event(event)
            clock.tick(event.completion_tokens)
            parts.append(event.text)
            logprobs += event.logprobs or []
            last = event
    finally:
        stream.cancel()
    assert last is not None
    state.metrics.count_tokens(last.prompt_tokens, last.completion_tokens)
    return "".join(parts), last, logprobs


@contextlib.asynccontextmanager
async def cancel_on_disconnect(request: Request[Any, Any, Any], streams: Sequence[EventStream]) -> AsyncIterator[None]:
    """While a non-streamed answer is generated, cancel ``streams`` if the client goes away (the
    body has been read, so the next ASGI message is the disconnect): their slots are freed."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                log.info("client disconnected; cancelling its request")
                for stream in streams:
                    stream.cancel()
                return

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()


def usage_of(event: StreamEvent) -> s.Usage:
    """The token usage a request's last event reports."""
    return s.Usage(event.prompt_tokens, event.completion_tokens, event.prompt_tokens + event.completion_tokens)


def sse(payload: Any) -> bytes:
    """One server-sent event carrying ``payload`` as JSON."""
    return b"data: " + s.encoder.encode(payload) + b"\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse_events(
    state: ServingState,
    stream: EventStream,
    chunks: Any,
    usage_chunk: Any,
    clock: TokenClock,
    first: bytes | None = None,
) -> AsyncIterator[bytes]:
    """SSE body: ``first``, the chunks of every event, usage, ``[DONE]``.

    ``chunks(event)`` builds an event's chunks (none while text is held back);
    ``usage_chunk(usage)`` the usage chunk (None: not asked for). A client that disconnects
    cancels this generator; ``finally`` then frees the request's batch slot.
    """
    last: StreamEvent | None = None
    try:
        if first is not None:
            yield first
        async for event in stream:
            last = event
            if event.error or event.finish_reason == "cancelled":
                body = s.ErrorResponse(s.ErrorBody(event.error or "the server is shutting down", "server_error"))
                yield sse(body)
                break
            clock.tick(event.completion_tokens)
            for payload in chunks(event):
                yield sse(payload)
        if usage_chunk is not None and last is not None:
            yield sse(usage_chunk(usage_of(last)))
        yield b"data: [DONE]\n\n"
    finally:
        stream.cancel()
        if last is not None:
            state.metrics.count_tokens(last.prompt_tokens, last.completion_tokens)
