"""Reading a raw ASGI request body with a size limit: shared by the server's gateway and the
router, which handle their generation routes below Litestar."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


class BodyTooLarge(Exception):
    """The body (or its declared ``Content-Length``) is over the limit: answer 413."""


class ClientGone(Exception):
    """The client disconnected before sending the whole body: answer 400 (nobody reads it)."""


async def read_body(
    receive: Callable[[], Awaitable[dict[str, Any]]], limit: int, content_length: bytes | None = None
) -> bytes:
    """The whole body of an ASGI request, at most ``limit`` bytes; a ``content_length`` header
    value over the limit is refused before anything is read."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
