"""The router's admin API is off without an admin key, and separate from
client keys; ``/health`` shows no experts without a key once keys are set; the admin API takes
JSON types as they are (``"enabled": 0`` is not false)."""

from __future__ import annotations

import httpx
import pytest

from largeforge.config import ExpertConfig, RouterConfig
from largeforge_router.app import create_app
from largeforge_router.config import ServerSettings
from largeforge_router.router import Router

from .router_testing import ExpertServer, serve_app


def make_router(experts: dict[str, ExpertServer], **server: object) -> Router:
    configs = [
        ExpertConfig(name="code", keywords=["python"], endpoints=[experts["code"].url]),
        ExpertConfig(name="general", endpoints=[experts["general"].url]),
    ]
    settings = ServerSettings(**{"health_check_interval": 0, **server})  # type: ignore[arg-type]
    return Router(RouterConfig(classifier_type="keyword", fallback_expert="general"), configs, server=settings)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_api_is_off_by_default(experts: dict[str, ExpertServer]) -> None:
    with serve_app(create_app(make_router(experts))) as url:
        added = httpx.post(f"{url}/experts", json={"name": "evil", "endpoints": ["http://attacker.example"]})
        assert added.status_code == 403
        assert added.json()["error"]["code"] == "admin_api_disabled"
        assert "server.admin_keys" in added.json()["error"]["message"]
        removed = httpx.delete(f"{url}/experts/code")
        assert removed.status_code == 403
        names = [e["name"] for e in httpx.get(f"{url}/experts").json()["experts"]]
        assert names == ["code", "general"]


def test_admin_key_is_separate_from_client_keys(experts: dict[str, ExpertServer]) -> None:
    router = make_router(experts, api_keys=["client"], admin_keys=["root"])
    new = ExpertServer("legal")
    try:
        with serve_app(create_app(router)) as url:
            body = {"name": "legal", "keywords": ["contract"], "endpoints": [new.url]}
            denied = httpx.post(f"{url}/experts", json=body, headers=bearer("client"))
            assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_admin_key"
            assert httpx.post(f"{url}/experts", json=body).status_code == 401
            assert httpx.post(f"{url}/experts", json=body, headers=bearer("root")).status_code == 201
            assert httpx.delete(f"{url}/experts/legal", headers=bearer("client")).status_code == 401
            assert httpx.delete(f"{url}/experts/legal", headers=bearer("root")).status_code == 200
            chat = {"model": "auto", "messages": [{"role": "user", "content": "python"}]}
            for key in ("client", "root"):  # the admin key works on client routes too
                assert httpx.post(f"{url}/v1/chat/completions", json=chat, headers=bearer(key)).status_code == 200
            assert httpx.post(f"{url}/v1/chat/completions", json=chat).status_code == 401
    finally:
        new.stop()


@pytest.mark.parametrize("server", [{"api_keys": ["client"]}, {"admin_keys": ["root"]}])
def test_health_lists_experts_only_to_key_holders(
    experts: dict[str, ExpertServer], server: dict[str, list[str]]
) -> None:
    key = (server.get("api_keys") or server["admin_keys"])[0]
    with serve_app(create_app(make_router(experts, **server))) as url:
        anonymous = httpx.get(f"{url}/health")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
        full = httpx.get(f"{url}/health", headers=bearer(key)).json()
        assert full["status"] == "ok" and set(full["experts"]) == {"code", "general"}


@pytest.mark.parametrize(
    ("field", "value"), [("enabled", 0), ("enabled", "false"), ("priority", "3"), ("max_tokens", 8.5)]
)
def test_admin_api_takes_json_types_as_they_are(experts: dict[str, ExpertServer], field: str, value: object) -> None:
    with serve_app(create_app(make_router(experts, admin_keys=["root"]))) as url:
        response = httpx.post(
            f"{url}/experts",
            headers=bearer("root"),
            json={"name": "legal", "endpoints": ["http://127.0.0.1:9"], field: value},
        )
        assert response.status_code == 400
        assert field in response.json()["error"]["message"]
        assert "legal" not in [e["name"] for e in httpx.get(f"{url}/experts").json()["experts"]]
