"""The server's OpenAPI 3.1 document, built from the msgspec Structs the handlers decode and
encode (so it says exactly what the server accepts and returns), served at ``/openapi.json``.

The handlers decode bodies themselves (for OpenAI-shaped errors), so Litestar's generator would
see no request bodies; this module writes the document instead.
"""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge import openai_contract as s
from largeforge_serve.server.schemas import HealthResponse

_REF = "#/components/schemas/{name}"
#: One server-sent event (``data: {json chunk}`` or ``data: [DONE]``), as SSE-aware tools parse it.
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def openapi_document(*, title: str, version: str, secured: bool) -> dict[str, Any]:
    """The OpenAPI document; ``secured``: the ``/v1`` routes need ``Authorization: Bearer``."""
    types = [
        s.ChatCompletionRequest,
        s.CompletionRequest,
        s.ChatCompletionResponse,
        s.ChatCompletionChunk,
        s.CompletionResponse,
        s.ModelList,
        s.ModelCard,
        HealthResponse,
        s.ErrorResponse,
    ]
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    chat_req, completion_req, chat, _chunk, completion, models, card, health, error = refs
    errors = {
        str(code): {"description": what, "content": _json(error)}
        for code, what in (
            (400, "invalid request"),
            (401, "missing or wrong API key"),
            (404, "unknown model or route"),
            (405, "method not allowed"),
            (413, "body too large"),
            (500, "generation failed"),
            (503, "busy or shutting down (Retry-After)"),
        )
    }

    def generation(request: dict[str, Any], response: dict[str, Any], summary: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {"required": True, "content": _json(request)},
                "responses": {
                    "200": {
                        "description": "the completion, or an SSE stream of chunks ending in "
                        "`data: [DONE]` when `stream` is true",
                        "content": {**_json(response), "text/event-stream": {"schema": SSE_EVENT}},
                    },
                    **errors,
                },
                **({"security": [{"bearer": []}]} if secured else {}),
            }
        }

    v1_get: dict[str, Any] = {"security": [{"bearer": []}]} if secured else {}
    paths = {
        "/v1/chat/completions": generation(chat_req, chat, "Chat completion (OpenAI-compatible)"),
        "/v1/completions": generation(completion_req, completion, "Text completion (OpenAI-compatible)"),
        "/v1/models": {
            "get": {
                "summary": "The base model and its adapters",
                **v1_get,
                "responses": {"200": {"description": "models", "content": _json(models)}, "401": errors["401"]},
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "summary": "One model",
                **v1_get,
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "the model", "content": _json(card)},
                    "401": errors["401"],
                    "404": errors["404"],
                },
            }
        },
        "/health": {
            "get": {
                "summary": "healthy, degraded or unhealthy (503)",
                "responses": {
                    "200": {"description": "serving", "content": _json(health)},
                    "503": {"description": "model not loaded", "content": _json(health)},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
