"""The router serves its OpenAPI document; a 405 and ``OPTIONS`` name
every allowed method (``OPTIONS /experts`` omitted POST)."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from largeforge.config import ExpertConfig, RouterConfig
from largeforge_router.app import create_app
from largeforge_router.config import ServerSettings
from largeforge_router.router import Router

from .router_testing import ExpertServer, serve_app


@pytest.fixture()
def url(experts: dict[str, ExpertServer]):  # type: ignore[no-untyped-def]
    configs = [
        ExpertConfig(name="code", keywords=["python"], endpoints=[experts["code"].url]),
        ExpertConfig(name="general", endpoints=[experts["general"].url]),
    ]
    router = Router(
        RouterConfig(classifier_type="keyword", fallback_expert="general"),
        configs,
        server=ServerSettings(health_check_interval=0, api_keys=["k"]),
    )
    with serve_app(create_app(router)) as base:
        yield base


def test_openapi_document_is_served_without_a_key(url: str) -> None:
    document = httpx.get(f"{url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/route", "/generate", "/experts", "/experts/{name}", "/health"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    route = document["paths"]["/route"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = {**route, "components": document["components"]}
    jsonschema.validate({"query": "python"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"query": ""}, schema)
    expert = {"$ref": "#/components/schemas/ExpertConfig", "components": document["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "enabled": 0}, expert)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/experts", "GET, OPTIONS, POST"),
        ("PUT", "/experts", "GET, OPTIONS, POST"),
        ("OPTIONS", "/experts/code", "DELETE, OPTIONS"),
        ("GET", "/route", "OPTIONS, POST"),
        ("GET", "/v1/chat/completions", "OPTIONS, POST"),
        ("DELETE", "/health", "GET, OPTIONS"),
    ],
)
def test_allow_names_every_method(url: str, method: str, path: str, allow: str) -> None:
    response = httpx.request(method, url + path, headers={"Authorization": "Bearer k"})
    assert response.status_code == (204 if method == "OPTIONS" else 405)
    assert response.headers["allow"] == allow
