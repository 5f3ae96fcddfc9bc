"""The router's OpenAPI 3.1 document (``/openapi.json``) and the methods each path allows
(the ``Allow`` header of 405 and ``OPTIONS`` answers).

The front door's bodies are LargeForge's OpenAI contract (:mod:`largeforge.openai_contract`),
which the router checks before routing (``model`` is required: ``auto`` or an expert's name);
the answers are the experts' own, passed through.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from largeforge import openai_contract as oc
from largeforge.config import ExpertConfig

_REF = "#/components/schemas/{name}"
#: One server-sent event (``data: {json chunk}`` or ``data: [DONE]``), as SSE-aware tools parse it.
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
#: The front door routes are plain ASGI handlers: their methods are not in Litestar's route map.
FRONT_DOOR = ("/v1/chat/completions", "/v1/completions")
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi_document(request_types: list[type[Any]], *, version: str, secured: bool) -> dict[str, Any]:
    """The document; ``request_types`` are the ``/route``, ``/generate`` and ``/v1/router/feedback``
    body Structs."""
    contract = [
        oc.ChatCompletionRequest,
        oc.CompletionRequest,
        oc.ChatCompletionResponse,
        oc.CompletionResponse,
        oc.ModelList,
        oc.ModelCard,
    ]
    refs, components = msgspec.json.schema_components([*request_types, ExpertConfig, *contract], ref_template=_REF)
    route_ref, generate_ref, feedback_ref, expert_ref, chat_ref, completion_ref, chat, completion, models, card = refs
    for name in ("ChatCompletionRequest", "CompletionRequest"):  # the front door needs `model`
        components[name]["required"] = sorted({*components[name].get("required", []), "model"})
    components["Error"] = _ERROR
    error = {"$ref": _REF.format(name="Error")}
    errors = {
        str(code): {"description": what, "content": _json(error)}
        for code, what in (
            (400, "invalid request"),
            (401, "missing or wrong key"),
            (403, "admin API off"),
            (404, "not found"),
            (409, "conflict"),
            (413, "body too large"),
            (502, "expert answered an error"),
            (503, "no expert can answer now (Retry-After)"),
        )
    }
    anything = {"type": "object"}

    def op(
        summary: str,
        body: dict[str, Any] | None,
        ok: dict[str, Any],
        *codes: int,
        status: str = "200",
        stream: bool = False,
    ) -> dict[str, Any]:
        content = _json(ok)
        if stream:
            content["text/event-stream"] = {"schema": SSE_EVENT}
        out: dict[str, Any] = {
            "summary": summary,
            "responses": {status: {"description": "ok", "content": content}, **{str(c): errors[str(c)] for c in codes}},
        }
        if body is not None:
            out["requestBody"] = {"required": True, "content": _json(body)}
        if secured:
            out["security"] = [{"bearer": []}]
        return out

    paths = {
        "/v1/chat/completions": {
            "post": op(
                "Routed chat completion (passed through from the expert)",
                chat_ref,
                chat,
                400,
                401,
                404,
                413,
                503,
                stream=True,
            )
        },
        "/v1/completions": {
            "post": op("Routed text completion", completion_ref, completion, 400, 401, 404, 413, 503, stream=True)
        },
        "/v1/models": {"get": op("'auto' and every enabled expert", None, models, 401)},
        "/v1/models/{model_id}": {
            "get": {
                **op("One of them", None, card, 401, 404),
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            }
        },
        "/route": {"post": op("The routing decision for a query", route_ref, anything, 400, 401)},
        "/v1/router/feedback": {
            "post": op(
                "Correct a misroute: the right expert for a request id or query "
                "(admin key; learnt at the next training)",
                feedback_ref,
                anything,
                400,
                401,
                403,
                404,
                409,
            )
        },
        "/generate": {
            "post": op(
                "Route, ask the expert, return text and routing", generate_ref, anything, 400, 401, 404, 502, 503
            )
        },
        "/experts": {
            "get": op("Experts with health, replicas and circuits", None, anything, 401),
            "post": op("Add an expert (admin key)", expert_ref, anything, 400, 401, 403, 409, status="201"),
        },
        "/experts/{name}": {
            "delete": {
                **op("Remove an expert (admin key)", None, anything, 401, 403, 404, 409),
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            }
        },
        "/health": {
            "get": {
                "summary": "Router health (experts listed to key holders)",
                "responses": {"200": {"description": "ok", "content": _json(anything)}},
            }
        },
        "/metrics": {"get": op("Prometheus metrics", None, {"type": "string"}, 401)},
    }
    paths["/metrics"]["get"]["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "LargeForge router", "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document


def route_methods(routes: list[Any]) -> list[tuple[re.Pattern[str], str]]:
    """(path pattern, ``Allow`` value) for every route of a Litestar app."""
    out = []
    for route in routes:
        methods = set(getattr(route, "methods", ()) or ())
        if route.path in FRONT_DOOR:
            methods = {"POST"}
        methods.add("OPTIONS")
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$")
        out.append((pattern, ", ".join(sorted(methods))))
    return out


def allowed(table: list[tuple[re.Pattern[str], str]], path: str) -> str | None:
    """The ``Allow`` value of ``path``, or None for an unknown path."""
    for pattern, methods in table:
        if pattern.match(path):
            return methods
    return None
