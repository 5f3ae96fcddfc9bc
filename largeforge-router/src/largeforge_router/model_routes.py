"""``GET /v1/models`` and ``GET /v1/models/{id}`` of the router's front door: ``auto`` and every
enabled expert, each a name a client can put in ``model`` (cards of LargeForge's OpenAI contract)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get

from largeforge.openai_contract import ErrorBody, ErrorResponse, ModelCard, ModelList, encoder
from largeforge_router.router import Router


def model_routes(router: Router) -> list[Any]:
    """The two route handlers for ``router`` (cards dated when the app was made)."""
    started = int(time.time())

    def cards() -> dict[str, ModelCard]:
        names = ["auto", *(e.name for e in router.experts.list_experts() if e.enabled)]
        return {n: ModelCard(id=n, created=started, owned_by="largeforge-router") for n in names}

    @get("/v1/models")
    async def models() -> Response[bytes]:
        return Response(encoder.encode(ModelList(list(cards().values()))), media_type="application/json")

    @get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> Response[bytes]:
        model_id = model_id.removeprefix("/")  # the path converter keeps the separating slash
        known = cards()
        if model_id in known:
            return Response(encoder.encode(known[model_id]), media_type="application/json")
        error = ErrorBody(
            f"The model `{model_id}` does not exist. Available: {', '.join(known)}",
            "invalid_request_error",
            param="model",
            code="model_not_found",
        )
        return Response(encoder.encode(ErrorResponse(error)), status_code=404, media_type="application/json")

    return [models, model]
