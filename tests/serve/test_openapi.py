"""Issue 15, items 10 and 17: the server serves its OpenAPI document, the document says what the
handlers accept (text parts only, non-empty prompts), real answers validate against it, and a
405 names the allowed methods."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest


@pytest.fixture(scope="module")
def document(tiny_server: Any) -> dict[str, Any]:
    response = httpx.get(tiny_server.url.removesuffix("/v1") + "/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def validate(document: dict[str, Any], name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    jsonschema.validate(instance, schema)


def test_document_describes_every_route(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/models/{model_id}",
        "/health",
        "/metrics",
    }
    body = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    part = document["components"]["schemas"]["TextPart"]
    assert part["properties"]["type"] == {"enum": ["text"]} and set(part["required"]) == {"type", "text"}


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ChatCompletionRequest", {"messages": [{"role": "user", "content": [{"type": "image_url", "text": "x"}]}]}),
        ("ChatCompletionRequest", {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]}),
        ("CompletionRequest", {"prompt": ""}),
        ("CompletionRequest", {"prompt": [""]}),
        ("CompletionRequest", {"prompt": []}),
    ],
)
def test_what_the_schema_refuses_the_server_refuses(
    tiny_server: Any, document: dict[str, Any], name: str, body: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(document, name, body)
    path = "/chat/completions" if name == "ChatCompletionRequest" else "/completions"
    assert httpx.post(f"{tiny_server.url}{path}", json={"model": "tiny", **body}).status_code == 400


def test_real_answers_validate_against_the_document(tiny_server: Any, document: dict[str, Any]) -> None:
    chat = {
        "model": "tiny",
        "max_tokens": 3,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    validate(document, "ChatCompletionRequest", chat)
    validate(
        document,
        "ChatCompletionResponse",
        httpx.post(f"{tiny_server.url}/chat/completions", json=chat, timeout=60).json(),
    )
    completion = {"model": "tiny", "max_tokens": 3, "prompt": ["a", "b"]}
    validate(
        document, "CompletionResponse", httpx.post(f"{tiny_server.url}/completions", json=completion, timeout=60).json()
    )
    validate(document, "ModelList", httpx.get(f"{tiny_server.url}/models").json())
    validate(document, "HealthResponse", httpx.get(tiny_server.url.removesuffix("/v1") + "/health").json())
    error = httpx.post(f"{tiny_server.url}/completions", json={"prompt": 3})
    assert error.status_code == 400
    validate(document, "ErrorResponse", error.json())


def test_405_names_the_allowed_methods(tiny_server: Any) -> None:
    response = httpx.get(f"{tiny_server.url}/chat/completions")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"].split(", ")
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_integral_floats_are_integers(tiny_server: Any) -> None:
    """JSON Schema's ``integer`` includes 649.0; the server refused it (``max_tokens``, ``seed``)."""
    body = {"model": "tiny", "prompt": "a", "max_tokens": 3.0, "seed": -16562.0, "temperature": 0}
    response = httpx.post(f"{tiny_server.url}/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] <= 3
    for bad in ({"max_tokens": 3.5}, {"max_tokens": "3"}, {"seed": 1e300}):
        refused = httpx.post(f"{tiny_server.url}/completions", json={**body, **bad}, timeout=60)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == next(iter(bad))
