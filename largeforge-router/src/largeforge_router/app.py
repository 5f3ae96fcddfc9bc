"""The router service (spec 5.8): a Litestar app around a :class:`Router`.

Routes: ``POST /route``, ``POST /generate``, ``GET/POST /experts``, ``DELETE /experts/{name}``,
``GET /health``, ``GET /metrics`` and the OpenAI-compatible front door ``/v1/chat/completions``,
``/v1/completions`` and ``/v1/models``, where ``model: "auto"`` routes and an expert's name
goes straight to that expert. Request bodies are checked against LargeForge's OpenAI contract
(:mod:`largeforge.openai_contract`) before they are routed, so the router refuses what the
experts' servers refuse, alike. Errors are OpenAI-shaped (``{"error": {...}}``) and a client can
only ever cause a 4xx.

The two forwarding routes are the hot path, so they are plain ASGI handlers (``@asgi``): they read
the body and write the expert's answer themselves, without Litestar's request parsing, dependency
injection and response conversion (about 0.3 ms a request on the 2-core development machine).
Routing, middleware and exception handlers still apply to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, asgi, delete, get, post
from litestar.exceptions import HTTPException, MethodNotAllowedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response.streaming import ASGIStreamingResponse

from largeforge.config import ExpertConfig
from largeforge.errors import ConfigError, LargeForgeError
from largeforge.openai_contract import ChatCompletionRequest, CompletionRequest, RequestError, parse_request
from largeforge.utils.logging import get_logger
from largeforge_router.experts import UnknownExpertError
from largeforge_router.model_routes import model_routes
from largeforge_router.openapi import allowed, openapi_document, route_methods
from largeforge_router.request_id import RequestIdMiddleware
from largeforge_router.router import Forwarded, NoEndpointError, Router

logger = get_logger("largeforge.router.app")  # under the largeforge logger tree
AUTO_MODELS = {"auto", "router"}
OPEN_PATHS = {"/health", "/openapi.json"}  # reachable without an API key (probes, client generators)
MAX_BODY = 10_000_000  # bytes; Litestar's default request_max_body_size, for the ASGI routes too
#: The contract each front-door route checks its body against.
REQUEST_TYPES: dict[str, type[Any]] = {
    "/v1/chat/completions": ChatCompletionRequest,
    "/v1/completions": CompletionRequest,
}


class RouteRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1)]


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the right ``expert`` for a routed request (its ``X-Request-ID``) or a query."""

    expert: Annotated[str, msgspec.Meta(min_length=1)]
    request_id: str | None = None
    query: Annotated[str, msgspec.Meta(min_length=1)] | None = None


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1)]
    expert: str | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=32768)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None


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


def _decode(raw: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise APIError(400, f"invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}") from None


def _text(content: Any, param: str) -> str:
    """The text of a message ``content`` (a string or a list of typed parts); ``param`` names
    it in the 400 for a text part whose ``text`` is not a string."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for j, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise APIError(
                    400,
                    f"a text content part needs a string 'text', not {type(text).__name__}",
                    param=f"{param}[{j}].text",
                )
            texts.append(text)
    return " ".join(texts)


async def read_body(receive: Any, headers: dict[bytes, bytes]) -> bytes:
    """The whole request body of a raw ASGI request (413 beyond :data:`MAX_BODY`)."""
    from largeforge.utils.asgi import BodyTooLarge, ClientGone
    from largeforge.utils.asgi import read_body as read_asgi_body

    try:
        return await read_asgi_body(receive, MAX_BODY, headers.get(b"content-length"))
    except BodyTooLarge:
        raise RequestEntityTooLarge from None
    except ClientGone:
        raise APIError(400, "client disconnected before sending the whole body") from None


def routing_query(path: str, payload: dict[str, Any]) -> str:
    """What the classifier reads: the last user message, or the prompt."""
    if path.endswith("/chat/completions"):
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise APIError(400, "'messages' must be a non-empty list", param="messages")
        for i in reversed(range(len(messages))):
            message = messages[i]
            if isinstance(message, dict) and message.get("role") == "user":
                return _text(message.get("content"), f"messages[{i}].content")
        last = messages[-1]
        return _text(last.get("content"), f"messages[{len(messages) - 1}].content") if isinstance(last, dict) else ""
    prompt = payload.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str):
        raise APIError(400, "'prompt' must be a string or a list of strings", param="prompt")
    return prompt


def _matches(given: bytes, candidates: list[bytes]) -> bool:
    """Whether ``given`` is one of ``candidates``, comparing with each in constant time."""
    matched = False
    for key in candidates:
        matched |= hmac.compare_digest(given, key)
    return matched


def create_app(router: Router, *, api_keys: list[str] | None = None, admin_keys: list[str] | None = None) -> Litestar:
    """The Litestar app serving ``router``; ``api_keys`` (clients) and ``admin_keys`` (adding
    and removing experts; the admin API is off without one) default to the router's server
    settings. An admin key is also accepted wherever a client key is."""
    keys = [k.encode() for k in (router.server.api_keys if api_keys is None else api_keys)]
    admins = [k.encode() for k in (router.server.admin_keys if admin_keys is None else admin_keys)]

    def supplied(authorization: str, api_key: str) -> bytes:
        given = authorization[7:].strip() if authorization.lower().startswith("bearer ") else api_key
        return given.encode()

    def check_key(authorization: str, api_key: str) -> None:
        if not _matches(supplied(authorization, api_key), keys + admins):
            raise APIError(
                401,
                "invalid or missing API key (send 'Authorization: Bearer <key>')",
                type_="authentication_error",
                code="invalid_api_key",
            )

    def check_admin(request: Request[Any, Any, Any]) -> None:
        if not admins:
            raise APIError(
                403,
                "the admin API is off: set server.admin_keys in the router config to add or remove experts at run time",
                type_="permission_error",
                code="admin_api_disabled",
            )
        given = supplied(request.headers.get("authorization", ""), request.headers.get("x-api-key", ""))
        if not _matches(given, admins):
            raise APIError(
                401,
                "adding or removing experts needs an admin key (server.admin_keys): send "
                "'Authorization: Bearer <admin key>'",
                type_="authentication_error",
                code="invalid_admin_key",
            )

    async def front_door(scope: Any, receive: Any, send: Any, path: str) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowedException
        raw_headers: dict[bytes, bytes] = dict(scope["headers"])
        if keys:
            check_key(
                raw_headers.get(b"authorization", b"").decode("latin-1"),
                raw_headers.get(b"x-api-key", b"").decode("latin-1"),
            )
        raw = await read_body(receive, raw_headers)
        try:
            parse_request(raw, REQUEST_TYPES[path])
        except RequestError as exc:
            raise APIError(400, exc.message, code=exc.code, param=exc.param) from None
        payload = _decode(raw, dict)
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            raise APIError(400, "'model' is required: 'auto' to route, or an expert's name", param="model")
        query = routing_query(path, payload)
        headers: dict[str, str] = {}
        if model in AUTO_MODELS:
            decision = await router.aroute(query)
            expert = decision.expert
            if b"x-request-id" in raw_headers:
                router.recent.remember(raw_headers[b"x-request-id"].decode("latin-1"), query, expert)
            headers["x-largeforge-confidence"] = f"{decision.confidence:.4f}"
            if decision.fallback_reason:
                headers["x-largeforge-fallback"] = decision.fallback_reason
        elif model in router.experts:
            expert = model
        else:
            names = ", ".join(["auto", *(e.name for e in router.experts.list_experts())])
            raise APIError(
                404, f"model {model!r} not found; use one of: {names}", code="model_not_found", param="model"
            )
        stream = payload.get("stream") is True
        rid = raw_headers.get(b"x-request-id")
        answer = await router.forward(
            path, payload, expert, stream=stream, request_id=rid.decode("latin-1") if rid is not None else None
        )
        if answer.expert != expert:  # the expert asked for (or routed to) failed: the fallback answered
            headers.setdefault("x-largeforge-fallback", "expert_failed")
        await respond(answer, headers, scope, receive, send)

    async def respond(answer: Forwarded, headers: dict[str, str], scope: Any, receive: Any, send: Any) -> None:
        headers = {**headers, "x-largeforge-expert": answer.expert, "x-largeforge-endpoint": answer.endpoint}
        if answer.attempts:
            headers["x-largeforge-retries"] = str(len(answer.attempts))
        if answer.stream is not None:
            response = ASGIStreamingResponse(
                iterator=answer.stream,
                media_type=answer.content_type,
                headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
            )
            await response(scope, receive, send)
            return
        # The expert's body and content type, passed through as they are.
        encoded = [
            (b"content-type", answer.content_type.encode("latin-1")),
            (b"content-length", str(len(answer.content)).encode()),
            *((k.encode(), v.encode("latin-1")) for k, v in headers.items()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": encoded})
        await send({"type": "http.response.body", "body": answer.content})

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat_completions(scope: Any, receive: Any, send: Any) -> None:
        await front_door(scope, receive, send, "/v1/chat/completions")

    @asgi("/v1/completions", copy_scope=False)
    async def completions(scope: Any, receive: Any, send: Any) -> None:
        await front_door(scope, receive, send, "/v1/completions")

    @post("/route", status_code=200)
    async def route(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = _decode(await request.body(), RouteRequest)
        decision = await router.aroute(body.query)
        if request.headers.get("x-request-id"):
            router.recent.remember(request.headers["x-request-id"], body.query, decision.expert)
        return decision.to_dict()

    @post("/v1/router/feedback", status_code=200)
    async def feedback(request: Request[Any, Any, Any]) -> dict[str, Any]:
        check_admin(request)
        body = _decode(await request.body(), FeedbackRequest)
        if router.feedback is None:
            raise APIError(
                409, "feedback is off: set classifier.feedback_data in the router config", code="feedback_disabled"
            )
        if body.expert not in router.experts:
            raise APIError(400, f"unknown expert {body.expert!r}", code="expert_not_found", param="expert")
        routed = router.recent.get(body.request_id) if body.request_id else None
        if body.request_id and routed is None:
            raise APIError(
                404,
                f"request {body.request_id!r} is not among the recently routed ones; send the query instead",
                code="request_not_found",
                param="request_id",
            )
        query = body.query or (routed[0] if routed else None)
        if query is None:
            raise APIError(400, "send the request_id of a routed request or the query", param="request_id")
        count = router.feedback.add(
            query, body.expert, routed=routed[1] if routed else None, request_id=body.request_id
        )
        return {
            "stored": {"query": query, "expert": body.expert, "routed": routed[1] if routed else None},
            "corrections": count,
            "learnt": "when the classifier is next trained (router restart, router train)",
        }

    @post("/generate", status_code=200)
    async def generate(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = _decode(await request.body(), GenerateRequest)
        if body.expert is not None and body.expert not in router.experts:
            raise APIError(404, f"unknown expert {body.expert!r}", code="expert_not_found", param="expert")
        try:
            return await router.agenerate(
                body.query, expert=body.expert, max_tokens=body.max_tokens, temperature=body.temperature
            )
        except NoEndpointError:
            raise
        except LargeForgeError as exc:
            raise APIError(502, str(exc), type_="upstream_error") from None

    @get("/experts")
    async def list_experts() -> dict[str, Any]:
        return {
            "experts": router.describe_experts(),
            "fallback_expert": router.config.fallback_expert,
            "load_balancing": router.balancer.strategy,
        }

    @post("/experts", status_code=201)
    async def add_expert(request: Request[Any, Any, Any]) -> dict[str, Any]:
        check_admin(request)
        data = _decode(await request.body(), dict)
        try:
            config = ExpertConfig.from_dict(data, source="request body", strict=True)
        except ConfigError as exc:
            raise APIError(400, str(exc)) from None
        if config.name in router.experts:
            raise APIError(409, f"expert {config.name!r} already exists", code="expert_exists")
        router.add_expert(config)
        return {"added": config.name, "expert": config.to_dict()}

    @delete("/experts/{name:str}", status_code=200)
    async def remove_expert(request: Request[Any, Any, Any], name: str) -> dict[str, Any]:
        check_admin(request)
        try:
            router.remove_expert(name)
        except UnknownExpertError as exc:
            raise APIError(404, str(exc), code="expert_not_found") from None
        except LargeForgeError as exc:
            raise APIError(409, str(exc), code="conflict") from None
        return {"removed": name}

    @get("/health")
    async def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
        available = [e.name for e in router.experts.list_experts() if router.is_available(e.name)]
        status = (
            "ok" if router.is_available(router.config.fallback_expert) else ("degraded" if available else "unavailable")
        )
        given = supplied(request.headers.get("authorization", ""), request.headers.get("x-api-key", ""))
        if (keys or admins) and not _matches(given, keys + admins):
            return {"status": status}  # probes need no key; the expert list does
        return {
            "status": status,
            "available_experts": available,
            "experts": {n: h.status.value for n, h in router.get_expert_status().items()},
        }

    @get("/openapi.json")
    async def openapi() -> Response[bytes]:
        return Response(document, media_type="application/json")

    @get("/metrics")
    async def metrics() -> Response[bytes]:
        return Response(router.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    def on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if isinstance(exc, APIError):
            return error_response(exc.status, exc.message, exc.type, exc.code, exc.param)
        if isinstance(exc, NoEndpointError):
            return error_response(
                503,
                str(exc),
                "service_unavailable",
                "experts_busy" if exc.busy else "no_healthy_endpoint",
                headers={"Retry-After": str(exc.retry_after)},
            )
        if isinstance(exc, HTTPException):  # 404 route, 405 method, malformed request
            methods = allowed(table, request.url.path) if exc.status_code == 405 else None
            return error_response(
                exc.status_code,
                str(exc.detail),
                code="method_not_allowed" if methods else None,
                headers={"Allow": methods} if methods else None,
            )
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}", "server_error")

    async def before(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        if request.method == "OPTIONS":  # Litestar's own answer omits methods of sibling handlers
            return Response(b"", status_code=204, headers={"Allow": allowed(table, request.url.path) or "OPTIONS"})
        if keys and request.url.path not in OPEN_PATHS:
            check_key(request.headers.get("authorization", ""), request.headers.get("x-api-key", ""))
        return None

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(router.health_loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await router.aclose()

    from largeforge.version import __version__

    document = msgspec.json.encode(
        openapi_document([RouteRequest, GenerateRequest, FeedbackRequest], version=__version__, secured=bool(keys))
    )
    app = Litestar(
        route_handlers=[
            chat_completions,
            completions,
            *model_routes(router),
            route,
            generate,
            feedback,
            list_experts,
            add_expert,
            remove_expert,
            health,
            metrics,
            openapi,
        ],
        before_request=before,
        exception_handlers={Exception: on_error},
        lifespan=[lifespan],
        middleware=[RequestIdMiddleware],
        openapi_config=None,
        logging_config=None,
    )
    table = route_methods(app.routes)
    return app
