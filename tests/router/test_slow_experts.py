"""An expert that is slow because it is loaded (its answer
takes longer than ``request_timeout``, its ``/health`` still answers) is skipped like a busy one —
its circuit stays closed and it is not marked down — while a hung one (``/health`` silent too)
and an unreachable one count as faults. Real slow stub experts and the router on loopback."""

from __future__ import annotations

import time

import httpx

from largeforge.config import ExpertConfig, RouterConfig
from largeforge_router.app import create_app
from largeforge_router.config import ServerSettings
from largeforge_router.router import SLOW_RETRY_AFTER, Router
from tests.helpers import free_port

from .router_testing import ExpertServer, serve_app

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "python bug"}]}


def make_router(code_urls: list[str], general_urls: list[str], health_interval: float = 0) -> Router:
    configs = [
        ExpertConfig(name="code", keywords=["python", "bug"], endpoints=code_urls, max_tokens=64),
        ExpertConfig(name="general", endpoints=general_urls, max_tokens=64),
    ]
    settings = ServerSettings(
        health_check_interval=health_interval,
        health_check_timeout=0.5,
        failure_threshold=2,
        reset_timeout=30,
        request_timeout=0.6,
    )
    return Router(RouterConfig(classifier_type="keyword", fallback_expert="general"), configs, server=settings)


def listing(url: str) -> dict[str, dict]:  # type: ignore[type-arg]
    experts = httpx.get(f"{url}/experts").json()["experts"]
    return {ep["url"]: ep for e in experts for ep in e["endpoints"]}


def test_a_loaded_replica_is_skipped_never_opened_nor_marked_down(experts: dict[str, ExpertServer]) -> None:
    slow = ExpertServer("code-slow")
    slow.delay = 1.5  # > request_timeout 0.6; /health answers at once
    try:
        router = make_router([slow.url, experts["code"].url], [experts["general"].url], health_interval=0.3)
        with serve_app(create_app(router)) as url:
            for _ in range(6):  # three times the failure threshold reach the slow replica
                response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30)
                assert response.status_code == 200
                assert response.json()["choices"][0]["message"]["content"] == "[code] python bug"
            time.sleep(0.8)  # a few health rounds
            state = listing(url)[slow.url]
            assert state["circuit"]["state"] == "closed" and state["circuit"]["consecutive_failures"] == 0
            assert state["health"] == "ready"
            assert len(slow.requests) >= 3
            assert experts["general"].requests == []
    finally:
        slow.stop()


def test_only_slow_replicas_is_503_with_retry_after_and_closed_circuits(experts: dict[str, ExpertServer]) -> None:
    experts["code"].delay = experts["general"].delay = 1.5
    router = make_router([experts["code"].url], [experts["general"].url])
    with serve_app(create_app(router)) as url:
        for _ in range(3):
            response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30)
            assert response.status_code == 503
            assert response.headers["retry-after"] == str(SLOW_RETRY_AFTER)
            assert response.json()["error"]["code"] == "experts_busy"
            assert "too slow" in response.json()["error"]["message"]
        assert {ep["circuit"]["state"] for ep in listing(url).values()} == {"closed"}
        experts["code"].delay = experts["general"].delay = 0
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30).status_code == 200


def test_a_hung_replica_or_an_unreachable_one_opens_its_circuit(experts: dict[str, ExpertServer]) -> None:
    hung = ExpertServer("code-hung")
    hung.delay = hung.health_delay = 1.5  # /health too slow for the 0.5 s probe
    gone = f"http://127.0.0.1:{free_port()}"  # connection refused
    try:
        router = make_router([hung.url, gone], [experts["general"].url])
        with serve_app(create_app(router)) as url:
            for _ in range(4):
                response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30)
                assert response.status_code == 200  # the fallback answers
            states = listing(url)
            assert states[hung.url]["circuit"]["state"] == "open"
            assert states[gone]["circuit"]["state"] == "open"
    finally:
        hung.stop()
