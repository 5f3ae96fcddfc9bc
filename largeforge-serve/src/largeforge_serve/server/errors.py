"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` for every failure.

Handlers raise :class:`APIError`; Litestar's own HTTP errors (unknown route, wrong method, body
too large, missing API key) and anything unexpected are converted by :func:`exception_handlers`
so clients always get the same shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from largeforge.openai_contract import ErrorBody, ErrorResponse, RequestError, parse_request
from largeforge.utils.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

#: OpenAI's error ``type`` per status (OpenAI answers an unknown model or URL with 404
#: ``invalid_request_error``, as the router does).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class APIError(Exception):
    """An error response with OpenAI's body; ``headers`` e.g. ``Retry-After``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(
            message=message, type=type or ERROR_TYPES.get(status, "server_error"), param=param, code=code
        )
        self.headers = headers or {}

    def response(self) -> Response[bytes]:
        return error_response(self.status, self.body, self.headers)


#: Response header naming whose fault a failed generation was. ``request``: this request's alone
#: (the server is fine and the same request would fail anywhere), so a router neither retries
#: it on another replica nor counts it against this one's circuit.
FAULT_HEADER = "X-LargeForge-Fault"


def generation_error(message: str, fault: str | None) -> APIError:
    """The 500 for a request whose generation failed, saying whose fault it was."""
    code = "request_failed" if fault == "request" else "generation_failed"
    return APIError(500, message, type="server_error", code=code, headers={FAULT_HEADER: fault} if fault else None)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        msgspec.json.encode(ErrorResponse(error=body)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def parse_body(body: bytes, kind: type[T]) -> T:
    """A request body checked against the OpenAI contract; a 400 naming the field
    (``messages[0].role``) for anything the contract refuses."""
    try:
        return parse_request(body, kind)
    except RequestError as exc:
        raise APIError(400, exc.message, param=exc.param, code=exc.code) from None


def _api_error(_: Request[Any, Any, Any], exc: APIError) -> Response[bytes]:
    return exc.response()


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code = {401: "invalid_api_key", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(status)
    message = str(exc.detail)
    if status == 413:
        message = "the request body is too large"
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return error_response(
        status, ErrorBody(message=message, type=ERROR_TYPES.get(status, "server_error"), code=code), headers
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, ErrorBody(message="internal server error", type="server_error"))


def exception_handlers() -> dict[Any, Any]:
    """The Litestar ``exception_handlers`` mapping that yields OpenAI-shaped bodies."""
    return {APIError: _api_error, HTTPException: _http_error, Exception: _unexpected}
