"""The one ASGI body reader the server's gateway and the router share (largeforge.utils.asgi)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from largeforge.utils.asgi import BodyTooLarge, ClientGone, read_body


def receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def test_reads_every_chunk() -> None:
    receive = receiver(
        {"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}
    )
    assert asyncio.run(read_body(receive, 3)) == b"abc"


@pytest.mark.parametrize(
    ("messages", "length", "error"),
    [
        (
            [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"cd"}],
            None,
            BodyTooLarge,
        ),
        ([], b"4", BodyTooLarge),  # refused on the declared length, before reading
        ([{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}], None, ClientGone),
    ],
)
def test_refusals(messages: list[dict[str, Any]], length: bytes | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        asyncio.run(read_body(receiver(*messages), 3, length))
