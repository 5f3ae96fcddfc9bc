"""The router service over HTTP: real stub experts, uvicorn, httpx and the official openai client."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import httpx
import openai
import pytest

from largeforge.config import ExpertConfig, RouterConfig
from largeforge_router.app import create_app
from largeforge_router.config import ServerSettings
from largeforge_router.router import Router
from tests.helpers import free_port

from .router_testing import ExpertServer, serve_app

KEYWORDS = {"code": ["python", "bug"], "math": ["integral", "derivative"], "general": []}


def make_router(
    experts: dict[str, ExpertServer], *, extra: dict[str, list[str]] | None = None, **server: object
) -> Router:
    configs = []
    for name, keywords in KEYWORDS.items():
        urls = [experts[name].url, *(extra or {}).get(name, [])]
        configs.append(ExpertConfig(name=name, keywords=keywords, endpoints=urls, max_tokens=64))
    settings = ServerSettings(**{"health_check_interval": 0, "failure_threshold": 2, **server})  # type: ignore[arg-type]
    return Router(RouterConfig(classifier_type="keyword", fallback_expert="general"), configs, server=settings)


@pytest.fixture()
def service(experts: dict[str, ExpertServer]) -> Iterator[tuple[str, Router]]:
    router = make_router(experts)
    with serve_app(create_app(router)) as url:
        yield url, router


def test_openai_client_chat_routes_by_content(service, experts) -> None:
    url, _ = service
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    reply = client.chat.completions.create(
        model="auto",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "my python script has a bug"}],
    )
    assert reply.choices[0].message.content == "[code] my python script has a bug"
    math = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "integral and derivative of x"}]
    )
    assert math.headers["x-largeforge-expert"] == "math"
    assert math.parse().choices[0].message.content.startswith("[math]")
    # The expert sees its own model name and the expert's token cap.
    sent = experts["code"].requests[-1]["body"]
    assert sent["model"] == "code" and sent["max_tokens"] == 64 and sent["temperature"] == 0.7


def test_openai_client_streaming_and_completions(service) -> None:
    url, _ = service
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="auto", stream=True, messages=[{"role": "user", "content": "derivative of sin please"}]
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 5  # passed through chunk by chunk, not buffered into one
    assert "".join(pieces) == "[math] derivative of sin please"
    completion = client.completions.create(model="code", prompt="hello there", max_tokens=5)
    assert completion.choices[0].text == "[code] hello there"  # named expert, no routing
    text = "".join(c.choices[0].text for c in client.completions.create(model="auto", prompt="python bug", stream=True))
    assert text == "[code] python bug"
    models = [m.id for m in client.models.list()]
    assert models[0] == "auto" and set(models) == {"auto", "code", "math", "general"}


def test_stream_chunks_reach_the_client_before_the_expert_finishes(service, experts) -> None:
    url, _ = service
    experts["code"].hold = threading.Event()
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "python bug"}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=20) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        # The expert is still holding the rest of its answer: the router did not buffer.
        assert not experts["code"].hold.is_set()
        assert '"[code]"' in first
        experts["code"].hold.set()
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]" and len(rest) == 3


def test_low_confidence_goes_to_fallback(service) -> None:
    url, _ = service
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "what is the capital of France"}]},
    )
    assert response.status_code == 200
    assert response.headers["x-largeforge-expert"] == "general"
    assert response.headers["x-largeforge-fallback"] == "low_confidence"


def test_dead_replica_is_retried_then_circuit_opens(experts) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    router = make_router(experts, extra={"code": [dead]})
    with serve_app(create_app(router)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        for _ in range(6):  # round robin sends every other request to the dead replica first
            reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "python bug"}])
            assert reply.choices[0].message.content == "[code] python bug"
        listing = httpx.get(f"{url}/experts").json()
        code = next(e for e in listing["experts"] if e["name"] == "code")
        circuits = {ep["url"]: ep["circuit"]["state"] for ep in code["endpoints"]}
        assert circuits == {experts["code"].url: "closed", dead: "open"}
        dead_ep = next(ep for ep in code["endpoints"] if ep["url"] == dead)
        assert dead_ep["failures"] == 2 and dead_ep["circuit"]["transitions"][-1]["to"] == "open"
        metrics = httpx.get(f"{url}/metrics").text
        assert re.search(rf'largeforge_router_circuit_state{{endpoint="{dead}"}} 2\.0', metrics)
        assert 'largeforge_router_decisions_total{expert="code",method="keyword"} 6.0' in metrics


def test_failing_expert_falls_back_to_fallback_expert(experts) -> None:
    router = make_router(experts)
    experts["math"].fail = True
    with serve_app(create_app(router)) as url:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": "integral"}]},
        )
        assert response.status_code == 200
        assert response.headers["x-largeforge-expert"] == "general"
        assert response.headers["x-largeforge-retries"] == "1"
        assert "[general]" in response.text and response.text.rstrip().endswith("data: [DONE]")
        experts["general"].stop()
        failed = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "integral"}]}
        )
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "no_healthy_endpoint"
        assert httpx.post(f"{url}/generate", json={"query": "integral"}).status_code == 503


def test_requests_are_adapted_to_the_expert(experts) -> None:
    router = make_router(experts)
    body = router.payload_for("code", {"model": "auto", "max_tokens": 500, "temperature": None})
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("code", 64, 0.7)
    assert router.payload_for("code", {"max_tokens": 10, "temperature": 0})["max_tokens"] == 10
    # Not an int: passed on untouched for the expert to reject (never a crash in the router).
    assert router.payload_for("code", {"max_tokens": "lots"})["max_tokens"] == "lots"


def test_route_generate_and_expert_admin(experts) -> None:
    with serve_app(create_app(make_router(experts, admin_keys=["root"]))) as url:
        _route_generate_and_admin(url, httpx.Client(headers={"Authorization": "Bearer root"}))


def _route_generate_and_admin(url: str, client: httpx.Client) -> None:
    """Routing, generation and the admin API, with the admin key (which clients' routes accept too)."""
    decision = client.post(f"{url}/route", json={"query": "python bug"}).json()
    assert decision["expert"] == "code" and decision["method"] == "keyword"
    assert set(decision["scores"]) == {"code", "math", "general"} and decision["routing_time_ms"] >= 0
    generated = client.post(f"{url}/generate", json={"query": "an integral"}).json()
    assert generated["text"] == "[math] an integral" and generated["routing"]["expert"] == "math"

    new = ExpertServer("legal")
    try:
        added = client.post(f"{url}/experts", json={"name": "legal", "keywords": ["contract"], "endpoints": [new.url]})
        assert added.status_code == 201
        assert client.post(f"{url}/route", json={"query": "my contract"}).json()["expert"] == "legal"
        assert client.post(f"{url}/experts", json={"name": "legal"}).status_code == 409
        bad = client.post(f"{url}/experts", json={"name": "no spaces allowed"})
        assert bad.status_code == 400 and "name" in bad.json()["error"]["message"]
        assert client.delete(f"{url}/experts/legal").status_code == 200
        assert client.post(f"{url}/route", json={"query": "my contract"}).json()["expert"] == "general"
        assert client.delete(f"{url}/experts/legal").status_code == 404
        assert client.delete(f"{url}/experts/general").status_code == 409
    finally:
        new.stop()
    assert client.get(f"{url}/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/chat/completions", b"not json", 400),
        ("/v1/chat/completions", b'{"messages": []}', 400),
        ("/v1/chat/completions", b'{"model": "auto", "messages": "hi"}', 400),
        ("/v1/chat/completions", b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404),
        ("/v1/completions", b'{"model": "auto", "prompt": 3}', 400),
        ("/route", b'{"query": ""}', 400),
        ("/route", b'{"q": "x"}', 400),
        ("/generate", b'{"query": "x", "expert": "nope"}', 404),
        ("/nowhere", b"{}", 404),
    ],
)
def test_client_mistakes_get_openai_shaped_4xx(service, path: str, body: bytes, status: int) -> None:
    url, _ = service
    response = httpx.post(url + path, content=body)
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_api_keys(experts) -> None:
    router = make_router(experts, api_keys=["s3cret"])
    with serve_app(create_app(router)) as url:
        assert httpx.get(f"{url}/health").status_code == 200  # probes need no key
        denied = httpx.get(f"{url}/experts")
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
        ok = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret").chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "python"}]
        )
        assert ok.choices[0].message.content == "[code] python"


def test_health_checks_open_and_close_circuits(experts) -> None:
    """Probes alone (no traffic) open a dead replica's circuit; once it is back and the reset
    timeout has passed, a probe closes it again."""
    import asyncio

    port = free_port()
    router = make_router(experts, extra={"math": [f"http://127.0.0.1:{port}"]}, reset_timeout=0.2)
    dead = f"http://127.0.0.1:{port}"

    async def rounds(n: int) -> None:
        for _ in range(n):
            await router.check_health()
        await router.aclose()

    asyncio.run(rounds(2))
    assert router.breaker.get_state(dead) == "open"
    assert router.experts.get_health("math").endpoints[dead] == "error"
    revived = ExpertServer("math", port=port)
    try:
        import time

        time.sleep(0.25)
        asyncio.run(rounds(1))
        assert router.breaker.get_state(dead) == "closed"
        assert router.experts.get_health("math").endpoints[dead] == "ready"
    finally:
        revived.stop()


def test_models_are_listed_and_found_one_by_one(service) -> None:
    """``GET /v1/models/{id}`` answers for ``auto`` and every enabled expert (the openai client's
    ``models.retrieve``); an unknown id or a disabled expert is 404 ``model_not_found``."""
    url, router = service
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    listed = [m.id for m in client.models.list()]
    assert listed[0] == "auto" and sorted(listed[1:]) == ["code", "general", "math"]
    for model_id in listed:
        card = client.models.retrieve(model_id)
        assert (card.id, card.object, card.owned_by) == (model_id, "model", "largeforge-router") and card.created > 0
    router.experts.get("math").enabled = False
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("math")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


def test_the_contract_is_checked_before_routing(service, experts) -> None:
    """A body ``largeforge serve`` would refuse is refused here alike and reaches no expert (the
    token cap used to turn ``max_tokens: 1000000`` into the expert's cap)."""
    url, _ = service
    chat = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    before = sum(len(e.requests) for e in experts.values())
    for extra, param in (
        ({"max_tokens": 1_000_000}, "max_tokens"),
        ({"temperature": 9}, "temperature"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"messages": [{"role": "x"}]}, "messages[0].role"),
    ):
        response = httpx.post(f"{url}/v1/chat/completions", json={**chat, **extra}, timeout=30)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, None)
    assert sum(len(e.requests) for e in experts.values()) == before
