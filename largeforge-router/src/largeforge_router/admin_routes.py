"""The router's admin API (an admin key required): ``POST /experts`` and ``DELETE /experts/{name}``
change the experts at run time; ``POST /v1/router/feedback`` stores a correction of a routing
decision for the classifier's next training."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, post
from litestar.handlers import HTTPRouteHandler

from largeforge.config import ExpertConfig
from largeforge.errors import ConfigError, LargeForgeError
from largeforge_router.api_errors import APIError, decode
from largeforge_router.api_keys import APIKeys
from largeforge_router.experts import UnknownExpertError
from largeforge_router.router import Router


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the right ``expert`` for a routed request (its ``X-Request-ID``) or a query."""

    expert: Annotated[str, msgspec.Meta(min_length=1)]
    request_id: str | None = None
    query: Annotated[str, msgspec.Meta(min_length=1)] | None = None


def admin_routes(router: Router, keys: APIKeys) -> list[HTTPRouteHandler]:
    """The admin routes of ``router``, each checking for an admin key first."""

    @post("/v1/router/feedback", status_code=200)
    async def feedback(request: Request[Any, Any, Any]) -> dict[str, Any]:
        keys.check_admin(request.headers)
        body = decode(await request.body(), FeedbackRequest)
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

    @post("/experts", status_code=201)
    async def add_expert(request: Request[Any, Any, Any]) -> dict[str, Any]:
        keys.check_admin(request.headers)
        data = decode(await request.body(), dict)
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
        keys.check_admin(request.headers)
        try:
            router.remove_expert(name)
        except UnknownExpertError as exc:
            raise APIError(404, str(exc), code="expert_not_found") from None
        except LargeForgeError as exc:
            raise APIError(409, str(exc), code="conflict") from None
        return {"removed": name}

    return [feedback, add_expert, remove_expert]
