"""Issue 15, item 17: ``Retry-After`` follows the queue (it was always 1): about the time the
queue takes to drain, from how long requests have been running."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from largeforge_serve.engines.base import EngineOverloadedError, SamplingParams


def test_retry_after_grows_with_queue_and_request_time(tiny_engine: Any) -> None:
    scheduler = tiny_engine._scheduler
    # One real request sets how long requests take here.
    events = list(tiny_engine.stream_events("Once upon a time", SamplingParams(temperature=0, max_tokens=400)))
    assert events[-1].finish_reason == "length"
    assert scheduler.request_seconds > 0

    async def overload() -> tuple[int, int]:
        long = SamplingParams(temperature=0, max_tokens=1500)
        streams = []
        try:
            with pytest.raises(EngineOverloadedError) as caught:
                for _ in range(4 + 16 + 1):  # 4 slots and a queue of 16: one of these is turned away
                    streams.append(tiny_engine.submit("Write forever", long))
            expected = math.ceil(len(scheduler._pending) / scheduler.max_batch_size * scheduler.request_seconds)
            return caught.value.retry_after, max(1, min(60, expected))
        finally:
            for stream in streams:
                stream.cancel()

    given, expected = asyncio.run(overload())
    assert given == expected
    assert given > 1, scheduler.request_seconds  # 16 queued, 4 at a time, each ~request_seconds
