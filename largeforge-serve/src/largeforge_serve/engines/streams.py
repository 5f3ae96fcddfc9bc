"""Carrying a request's events from the worker thread to an asyncio or a blocking consumer."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Iterator

from largeforge_serve.engines.base import StreamEvent


class AsyncEventStream:
    """Async iterator over one request's events, fed from another thread.

    Create it inside the event loop that will consume it; ``cancel()`` (also called by
    ``aclose()``) tells the engine to drop the request, freeing its batch slot.
    """

    def __init__(self, prompt_tokens: int = 0) -> None:
        self.prompt_tokens = prompt_tokens
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._done = False
        self._cancel: Callable[[], None] | None = None

    def bind(self, cancel: Callable[[], None], prompt_tokens: int) -> None:
        """Attach the engine-side cancel hook once the request is queued."""
        self._cancel = cancel
        self.prompt_tokens = prompt_tokens

    def sink(self, event: StreamEvent) -> None:
        """Called from the worker thread for every event."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancel()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event.finished:
            self._done = True
        return event

    def cancel(self) -> None:
        """Drop the request if it is still running (no effect once it has finished)."""
        if not self._done and self._cancel is not None:
            self._done = True
            self._cancel()

    async def aclose(self) -> None:
        self.cancel()


def blocking_events(submit: Callable[[Callable[[StreamEvent], None]], Callable[[], None]]) -> Iterator[StreamEvent]:
    """Run a request for a synchronous caller: ``submit(sink)`` queues it and returns its cancel
    hook; events are yielded until the last one. Leaving the loop early cancels the request."""
    events: queue.Queue[StreamEvent] = queue.Queue()
    cancel = submit(events.put)
    finished = False
    try:
        while not finished:
            event = events.get()
            finished = event.finished
            yield event
    finally:
        if not finished:
            cancel()
