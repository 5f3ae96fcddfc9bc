"""The router API's errors and request bodies: :class:`APIError` answered as OpenAI's
``{"error": {...}}``, decoding a JSON body into its type (400 otherwise), and reading a raw ASGI
body up to :data:`MAX_BODY` (413 beyond)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from largeforge.utils.asgi import BodyTooLarge, ClientGone
from largeforge.utils.asgi import read_body as read_asgi_body

MAX_BODY = 10_000_000  # bytes; Litestar's default request_max_body_size, for the ASGI routes too


class APIError(Exception):
    """An error answered to the client as ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """An OpenAI-shaped error response."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers)


def decode(raw: bytes, kind: type[Any]) -> Any:
    """``raw`` JSON decoded into ``kind``; a 400 naming what is wrong otherwise."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise APIError(400, f"invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}") from None


async def read_body(receive: Any, headers: dict[bytes, bytes]) -> bytes:
    """The whole request body of a raw ASGI request (413 beyond :data:`MAX_BODY`)."""
    try:
        return await read_asgi_body(receive, MAX_BODY, headers.get(b"content-length"))
    except BodyTooLarge:
        raise RequestEntityTooLarge from None
    except ClientGone:
        raise APIError(400, "client disconnected before sending the whole body") from None
