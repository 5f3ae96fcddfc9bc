"""Request ids on the router: every request gets one, logs carry it, and the answer and the expert see it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from largeforge.utils.logging import request_context

#: What a client's X-Request-ID may be (as ``largeforge serve`` accepts); anything else is replaced.
REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Give every request an id (a valid ``X-Request-ID`` in, or a new one), log with it, echo it
    back and forward it; an invalid one (too long, odd characters) is replaced, never echoed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        valid = given is not None and REQUEST_ID.match(given) is not None
        rid = given.decode("latin-1") if given is not None and valid else uuid.uuid4().hex

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        if not valid:
            scope["headers"] = [
                *(h for h in scope["headers"] if h[0] != b"x-request-id"),
                (b"x-request-id", rid.encode()),
            ]
        with request_context(rid):
            await self.app(scope, receive, send_with_id)
