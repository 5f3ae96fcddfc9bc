"""The router service: a Litestar app around a :class:`Router`.

Routes: the OpenAI-compatible front door ``/v1/chat/completions`` and ``/v1/completions``
(:mod:`~largeforge_router.front_door`) and ``/v1/models`` (:mod:`~largeforge_router.model_routes`);
``POST /route``, ``POST /generate``, ``GET /experts``, ``GET /health``, ``GET /metrics``,
``GET /openapi.json`` here; the admin API (:mod:`~largeforge_router.admin_routes`). Errors are
OpenAI-shaped (``{"error": {...}}``) and a client can only ever cause a 4xx.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException

from largeforge.errors import LargeForgeError
from largeforge.utils.logging import get_logger
from largeforge.version import __version__
from largeforge_router.admin_routes import FeedbackRequest, admin_routes
from largeforge_router.api_errors import MAX_BODY, APIError, decode, error_response
from largeforge_router.api_keys import APIKeys
from largeforge_router.front_door import front_door_routes
from largeforge_router.model_routes import model_routes
from largeforge_router.openapi import allowed, openapi_document, route_methods
from largeforge_router.request_id import RequestIdMiddleware
from largeforge_router.router import NoEndpointError, Router

#: Re-exported: tests read the body limit from here.
__all__ = ["MAX_BODY", "create_app"]
logger = get_logger("largeforge.router.app")  # under the largeforge logger tree
OPEN_PATHS = {"/health", "/openapi.json"}  # reachable without an API key (probes, client generators)


class RouteRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1)]


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1)]
    expert: str | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=32768)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None


def create_app(router: Router, *, api_keys: list[str] | None = None, admin_keys: list[str] | None = None) -> Litestar:
    """The Litestar app serving ``router``; ``api_keys`` (clients) and ``admin_keys`` (adding
    and removing experts; the admin API is off without one) default to the router's server
    settings. An admin key is also accepted wherever a client key is."""
    keys = APIKeys(
        router.server.api_keys if api_keys is None else api_keys,
        router.server.admin_keys if admin_keys is None else admin_keys,
    )

    @post("/route", status_code=200)
    async def route(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = decode(await request.body(), RouteRequest)
        decision = await router.aroute(body.query)
        if request.headers.get("x-request-id"):
            router.recent.remember(request.headers["x-request-id"], body.query, decision.expert)
        return decision.to_dict()

    @post("/generate", status_code=200)
    async def generate(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = decode(await request.body(), GenerateRequest)
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

    @get("/health")
    async def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
        available = [e.name for e in router.experts.list_experts() if router.is_available(e.name)]
        status = (
            "ok" if router.is_available(router.config.fallback_expert) else ("degraded" if available else "unavailable")
        )
        if not keys.accepts(request.headers):
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
        if keys.required and request.url.path not in OPEN_PATHS:
            keys.check_client(request.headers.get("authorization", ""), request.headers.get("x-api-key", ""))
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

    document = msgspec.json.encode(
        openapi_document([RouteRequest, GenerateRequest, FeedbackRequest], version=__version__, secured=keys.required)
    )
    app = Litestar(
        route_handlers=[
            *front_door_routes(router, keys),
            *model_routes(router),
            route,
            generate,
            list_experts,
            *admin_routes(router, keys),
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
