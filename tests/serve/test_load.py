"""Bounded load on 127.0.0.1: 500 requests from 32 concurrent clients, 10% malformed.

Every malformed request gets a 4xx; every valid one is pushed back with 503/429 and Retry-After
while the (deliberately small) queue is full and served with a 200 when retried; no other 5xx, and
the server is healthy afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from largeforge_serve.engines.transformers_engine import TransformersEngine

TOTAL, CLIENTS = 500, 32
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 4}

MALFORMED: list[tuple[str, bytes]] = [
    ("/v1/chat/completions", b'{"model": "tiny", "messages": ['),
    ("/v1/chat/completions", json.dumps({**CHAT, "messages": 42}).encode()),
    ("/v1/chat/completions", json.dumps({**CHAT, "model": "no-such-model"}).encode()),
    ("/v1/chat/completions", json.dumps({**CHAT, "temperature": 9}).encode()),
    ("/v1/chat/completions", b"\x00\xff\xfe not even text"),
    ("/v1/completions", json.dumps({"model": "tiny"}).encode()),
    ("/v1/completions", json.dumps({"prompt": "x", "max_tokens": -3}).encode()),
    ("/v1/completions", b"null"),
    ("/v1/chat/completions", json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 20_000}]}).encode()),
    ("/v1/chat/completions", json.dumps({**CHAT, "stream": True, "n": 5}).encode()),
]


def valid(i: int) -> tuple[str, dict[str, Any]]:
    kind = i % 3
    if kind == 0:
        return "/v1/chat/completions", CHAT
    if kind == 1:
        return "/v1/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    return "/v1/completions", {"model": "tiny", "prompt": f"Item {i}:", "max_tokens": 4}


Result = tuple[bool, int, httpx.Headers, str]


async def send(client: httpx.AsyncClient, i: int) -> Result:
    """Request ``i``: every tenth is malformed. Returns (malformed, status, headers, body)."""
    if i % 10 == 0:
        path, raw = MALFORMED[(i // 10) % len(MALFORMED)]
        response = await client.post(path, content=raw, headers={"content-type": "application/json"})
        return True, response.status_code, response.headers, response.text
    path, body = valid(i)
    async with client.stream("POST", path, json=body) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])
    return False, response.status_code, response.headers, text


async def hammer(base: str) -> tuple[list[Result], list[Result]]:
    """Send every request until it is answered; returns (final answers, push-backs on the way).

    A request pushed back with 429/503 goes to the end of the queue, as a polite client retries it,
    so how many requests end in 200 does not depend on how fast this machine generates. Every
    client keeps going until the last request is answered.
    """
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(TOTAL):
        queue.put_nowait(i)
    answers: list[Result] = []
    pushbacks: list[Result] = []
    # Idle connections are dropped after 1 s, well inside uvicorn's 5 s keep-alive: with equal
    # limits (httpx's default is also 5 s) a connection can be reused just as the server closes it.
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS, keepalive_expiry=1.0)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:

        async def worker() -> None:
            while True:
                i = await queue.get()
                try:
                    result = await send(client, i)
                    malformed, status, _, _ = result
                    if not malformed and status in (429, 503):
                        pushbacks.append(result)
                        await asyncio.sleep(0.05)  # a polite client backs off (briefly, to keep this short)
                        queue.put_nowait(i)
                    else:
                        answers.append(result)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(CLIENTS)]
        joined = asyncio.ensure_future(queue.join())
        # Until every request is answered, a client fails (a dropped connection…), or the server
        # has not freed its queue in 10 minutes: the suite is never left hanging.
        done, _ = await asyncio.wait([joined, *workers], timeout=600, return_when=asyncio.FIRST_COMPLETED)
        for task in [joined, *workers]:
            task.cancel()
        await asyncio.gather(joined, *workers, return_exceptions=True)
    if not done:
        raise TimeoutError("the server did not answer every request within 600 s")
    for task in done:
        task.result()  # re-raises a client's error
    return answers, pushbacks


def test_500_requests_32_clients_10_percent_malformed(tiny_model_dir: Path, server_factory: Any) -> None:
    engine = TransformersEngine(str(tiny_model_dir), max_batch_size=4, max_queue=8, threads=1)
    with server_factory(engine, max_body_size=10_000) as server:
        base = server.url.removesuffix("/v1")
        results, pushbacks = asyncio.run(hammer(base))
        health = httpx.get(f"{base}/health").json()
        metrics = httpx.get(f"{base}/metrics").text
    engine.unload()

    assert len(results) == TOTAL
    statuses = Counter((malformed, status) for malformed, status, _, _ in results)
    assert not [s for (_, s) in statuses if s >= 500], statuses
    for malformed, status, headers, body in results:
        if malformed:
            assert 400 <= status < 500, (status, body)
            assert "error" in json.loads(body)
        else:
            assert status == 200, (status, body)
            if "text/event-stream" in headers["content-type"]:
                assert body.rstrip().endswith("data: [DONE]")
                assert '"error"' not in body
    for _, _, headers, _ in pushbacks:  # (429 or 503 by construction)
        assert int(headers["retry-after"]) >= 1
    assert statuses[(False, 200)] == TOTAL - TOTAL // 10  # every valid request was served in the end
    assert pushbacks  # and the bounded queue really pushed back on the way
    assert health["status"] == "healthy"
    assert (health["active_requests"], health["queued_requests"]) == (0, 0)
    assert 'status="500"' not in metrics
