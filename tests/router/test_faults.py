"""The circuit breaker counts only an endpoint's own faults.

A client error (4xx), a failure the expert attributes to the request (``X-LargeForge-Fault:
request``) and an expert's backpressure (429, or 503 with ``Retry-After``) never open a circuit;
a request's own failure is not retried elsewhere (it would fail there too and take that batch
down); a busy expert's request goes to another replica, and when none can take it the router
answers 503 with ``Retry-After``. Real stub experts and the router app on loopback.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from largeforge.config import ExpertConfig, RouterConfig
from largeforge_router.app import create_app
from largeforge_router.config import ServerSettings
from largeforge_router.router import Router
from tests.helpers import free_port

from .router_testing import ExpertServer, serve_app

BUSY = (
    503,
    {"Retry-After": "7"},
    {
        "error": {
            "message": "the server is busy (8 running, 64 queued); retry later",
            "type": "service_unavailable_error",
            "code": "server_overloaded",
        }
    },
)
REQUEST_FAULT = (
    500,
    {"X-LargeForge-Fault": "request"},
    {"error": {"message": "generation failed: bad sampling", "type": "server_error", "code": "request_failed"}},
)
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "python bug"}]}


def make_router(code_urls: list[str], general_urls: list[str]) -> Router:
    configs = [
        ExpertConfig(name="code", keywords=["python", "bug"], endpoints=code_urls, max_tokens=64),
        ExpertConfig(name="general", endpoints=general_urls, max_tokens=64),
    ]
    settings = ServerSettings(health_check_interval=0, failure_threshold=2, reset_timeout=30)
    return Router(RouterConfig(classifier_type="keyword", fallback_expert="general"), configs, server=settings)


def states(url: str) -> dict[str, str]:
    listing = httpx.get(f"{url}/experts").json()["experts"]
    return {ep["url"]: ep["circuit"]["state"] for e in listing for ep in e["endpoints"]}


@pytest.mark.parametrize(
    "reply",
    [
        (400, {}, {"error": {"message": "max_tokens must be >= 1", "type": "invalid_request_error"}}),
        (404, {}, {"error": {"message": "The model `x` does not exist", "type": "not_found_error"}}),
        (422, {}, {"error": {"message": "unprocessable", "type": "invalid_request_error"}}),
        REQUEST_FAULT,
    ],
    ids=["400", "404", "422", "request-fault-500"],
)
def test_errors_of_the_request_pass_through_and_never_open_a_circuit(
    experts: dict[str, ExpertServer], reply: Any
) -> None:
    experts["code"].reply = reply
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        for _ in range(5):  # more than the failure threshold (2)
            response = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
            assert response.status_code == reply[0]
            assert response.json() == reply[2]
            assert response.headers["x-largeforge-expert"] == "code"
        assert states(url) == {experts["code"].url: "closed", experts["general"].url: "closed"}
    assert experts["general"].requests == []  # never retried on the fallback


def test_a_busy_replica_is_skipped_not_counted(experts: dict[str, ExpertServer]) -> None:
    busy = ExpertServer("code-busy")
    busy.reply = BUSY
    try:
        router = make_router([busy.url, experts["code"].url], [experts["general"].url])
        with serve_app(create_app(router)) as url:
            for _ in range(6):
                response = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
                assert response.status_code == 200
                assert response.json()["choices"][0]["message"]["content"] == "[code] python bug"
            assert states(url)[busy.url] == "closed"
            assert len(busy.requests) >= 3  # round robin kept offering it work
    finally:
        busy.stop()


def test_every_replica_busy_is_503_with_retry_after_and_no_open_circuit(experts: dict[str, ExpertServer]) -> None:
    experts["code"].reply = BUSY
    experts["general"].reply = BUSY
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        for _ in range(5):
            response = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert response.json()["error"]["code"] == "experts_busy"
        assert set(states(url).values()) == {"closed"}
        experts["code"].reply = experts["general"].reply = None
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200


def test_no_healthy_endpoint_carries_retry_after() -> None:
    router = make_router([f"http://127.0.0.1:{free_port()}"], [f"http://127.0.0.1:{free_port()}"])
    with serve_app(create_app(router)) as url:
        codes = [httpx.post(f"{url}/v1/chat/completions", json=CHAT) for _ in range(3)]
        assert all(r.status_code == 503 for r in codes)
        assert codes[-1].json()["error"]["code"] == "no_healthy_endpoint"
        # Both circuits are open for the 30 s reset timeout: the client is told when to come back.
        assert 1 <= int(codes[-1].headers["retry-after"]) <= 30
        generate = httpx.post(f"{url}/generate", json={"query": "python"})
        assert generate.status_code == 503 and "retry-after" in generate.headers


@pytest.mark.parametrize("text", [5, None, ["x"], {"a": 1}])
def test_non_string_text_part_is_400_naming_it(experts: dict[str, ExpertServer], text: Any) -> None:
    """Defect 14: it was a 500 (TypeError in the router)."""
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        body = {"model": "auto", "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
        response = httpx.post(f"{url}/v1/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "messages[0].content[0].text"


def test_the_token_cap_applies_to_max_completion_tokens_too(experts: dict[str, ExpertServer]) -> None:
    """Defect 13: ``max_completion_tokens`` bypassed the expert's ``max_tokens`` cap."""
    router = make_router([experts["code"].url], [experts["general"].url])
    body = router.payload_for("code", {"max_completion_tokens": 500})
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    both = router.payload_for("code", {"max_completion_tokens": 500, "max_tokens": 10})
    assert (both["max_completion_tokens"], both["max_tokens"]) == (64, 10)
    assert router.payload_for("code", {"max_completion_tokens": 5})["max_completion_tokens"] == 5
    with serve_app(create_app(router)) as url:
        httpx.post(f"{url}/v1/chat/completions", json={**CHAT, "max_completion_tokens": 600})
    assert experts["code"].requests[-1]["body"]["max_completion_tokens"] == 64


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    import re

    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        match = re.match(rf"{name}{{(.*)}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == want:
            return float(match.group(2))
    return 0.0


def test_streams_are_observed_once_and_counted_when_closed_after_done(experts: dict[str, ExpertServer]) -> None:
    """Defect 8: a stream was observed twice in request_seconds (first chunk and end), and a
    stream whose client closed right after ``[DONE]`` was not counted."""
    experts["code"].linger = 1.0  # the expert closes late; the client leaves at [DONE]
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        for _ in range(4):
            with httpx.stream("POST", f"{url}/v1/chat/completions", json={**CHAT, "stream": True}) as response:
                for line in response.iter_lines():
                    if line == "data: [DONE]":
                        break  # close at once, as many clients do
        httpx.post(f"{url}/v1/chat/completions", json=CHAT)
        import time

        deadline = time.monotonic() + 5
        while True:
            metrics = httpx.get(f"{url}/metrics").text
            ok = _sample(metrics, "largeforge_router_requests_total", expert="code", outcome="ok")
            if ok >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert ok == 5
        assert _sample(metrics, "largeforge_router_request_seconds_count", expert="code") == 5
        assert _sample(metrics, "largeforge_router_time_to_first_chunk_seconds_count", expert="code") == 4


@pytest.mark.parametrize("given", ["x" * 65536, "bad id with spaces", "ünï"], ids=["64KB", "spaces", "non-ascii"])
def test_invalid_request_ids_are_replaced_not_echoed(experts: dict[str, ExpertServer], given: str) -> None:
    """Item 17: the router echoed and forwarded any X-Request-ID (64 KB included)."""
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={"X-Request-ID": given.encode("utf-8")})
        assert response.status_code == 200
        rid = response.headers["x-request-id"]
        assert rid != given and len(rid) == 32
        forwarded = {k.lower(): v for k, v in experts["code"].requests[-1]["headers"].items()}
        assert forwarded["x-request-id"] == rid
        ok = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "trace-42:a.b"})
        assert ok.headers["x-request-id"] == "trace-42:a.b"
        assert {k.lower(): v for k, v in experts["code"].requests[-1]["headers"].items()}[
            "x-request-id"
        ] == "trace-42:a.b"


def test_a_named_expert_answered_by_the_fallback_says_so(experts: dict[str, ExpertServer]) -> None:
    """Item 17: a fallback answer for a request naming its expert carried no x-largeforge-fallback."""
    experts["code"].fail = True
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        body = {"model": "code", "messages": [{"role": "user", "content": "hello"}]}
        response = httpx.post(f"{url}/v1/chat/completions", json=body)
        assert response.status_code == 200
        assert response.headers["x-largeforge-expert"] == "general"
        assert response.headers["x-largeforge-fallback"] == "expert_failed"
        experts["code"].fail = False
        direct = httpx.post(f"{url}/v1/chat/completions", json=body)
        assert direct.headers["x-largeforge-expert"] == "code" and "x-largeforge-fallback" not in direct.headers


def test_a_body_over_the_limit_is_413_before_any_expert_sees_it(experts: dict[str, ExpertServer]) -> None:
    from largeforge_router.app import MAX_BODY

    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        response = httpx.post(f"{url}/v1/chat/completions", content=b" " * (MAX_BODY + 1), timeout=60)
        assert response.status_code == 413
    assert experts["code"].requests == [] and experts["general"].requests == []
