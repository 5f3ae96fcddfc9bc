"""``GET /v1/models`` and ``GET /v1/models/{id}``: the base model and every adapter, each a
name clients can put in ``model`` (the same on every backend: the gateway answers these itself)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from largeforge import openai_contract as oc
from largeforge_serve.server.state import ServingState, serving_state


def _card(state: ServingState, model_id: str) -> oc.ModelCard:
    parent = None if model_id == state.settings.model_name else state.settings.model_name
    return oc.ModelCard(id=model_id, created=int(state.settings.started), root=parent or model_id, parent=parent)


@get("/models")
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    """The base model and every adapter, each selectable through ``model``."""
    state = serving_state(request)
    body = oc.ModelList([_card(state, m) for m in state.model_ids()])
    return Response(oc.encoder.encode(body), media_type="application/json")


@get("/models/{model_id:path}")
async def retrieve_model(request: Request[Any, Any, Any], model_id: str) -> Response[Any]:
    """One model card; 404 ``model_not_found`` for an unknown id."""
    state = serving_state(request)
    model_id = model_id.removeprefix("/")  # the path converter keeps the separating slash
    state.resolve_model(model_id)
    return Response(oc.encoder.encode(_card(state, model_id)), media_type="application/json")


#: The route handlers, mounted under ``/v1``.
ROUTES = [list_models, retrieve_model]
