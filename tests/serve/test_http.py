"""The HTTP layer with raw requests: OpenAI error shapes for anything a client sends, request
ids, CORS, body limits, metrics, health, disconnects and graceful shutdown."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def http(tiny_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny_server.url.removesuffix("/v1"), timeout=120) as client:
        yield client


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return dict(error)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"\xff\xfe\x00garbage", None),
        (b"[1, 2, 3]", None),
        (b"", None),
        (json.dumps({"model": "tiny"}).encode(), "messages"),
        (json.dumps({**CHAT, "messages": "hi"}).encode(), "messages"),
        (json.dumps({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}).encode(), "messages[0].role"),
        (json.dumps({**CHAT, "max_tokens": "many"}).encode(), "max_tokens"),
        (json.dumps({**CHAT, "temperature": -1}).encode(), "temperature"),
        (json.dumps({**CHAT, "stop": [1, 2]}).encode(), None),
        (json.dumps({**CHAT, "seed": 2**70}).encode(), "seed"),
        (json.dumps({**CHAT, "stream_options": {"include_usage": "yes"}}).encode(), "stream_options.include_usage"),
        (
            json.dumps({**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).encode(),
            "messages[0].content[0].image_url",
        ),
        (
            json.dumps({**CHAT, "messages": [{"role": "user", "content": [{"type": "video"}]}]}).encode(),
            "messages[0].content[0].type",
        ),
        # A well-formed image part: the contract takes it (a gateway's engine may read images), this
        # engine does not.
        (
            json.dumps(
                {
                    **CHAT,
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
                        }
                    ],
                }
            ).encode(),
            "messages[0].content",
        ),
    ],
)
def test_malformed_chat_bodies_are_400(http: httpx.Client, body: bytes, param: str | None) -> None:
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    error = assert_openai_error(response, 400, param)
    assert error["type"] == "invalid_request_error"


def test_malformed_completion_bodies_are_400(http: httpx.Client) -> None:
    assert_openai_error(http.post("/v1/completions", json={"model": "tiny"}), 400, "prompt")
    assert_openai_error(http.post("/v1/completions", json={"prompt": 5}), 400, "prompt")
    assert_openai_error(http.post("/v1/completions", json={"prompt": ["a", "b"], "stream": True}), 400, "prompt")


def test_routing_errors_keep_the_shape(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/nothing-here"), 404)
    assert_openai_error(http.get("/v1/chat/completions"), 405)
    error = assert_openai_error(http.get("/v1/models/not-a-model"), 404, "model")
    assert error["code"] == "model_not_found"


def test_body_size_limit_is_413(http: httpx.Client) -> None:
    huge = {**CHAT, "messages": [{"role": "user", "content": "x" * 1_100_000}]}
    assert_openai_error(http.post("/v1/chat/completions", json=huge), 413)


def test_prompt_longer_than_context_is_400(http: httpx.Client) -> None:
    long = {**CHAT, "messages": [{"role": "user", "content": "word " * 3000}]}
    error = assert_openai_error(http.post("/v1/chat/completions", json=long), 400, "messages")
    assert error["code"] == "context_length_exceeded"


def test_request_ids_are_echoed_or_generated(http: httpx.Client) -> None:
    assert http.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = http.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    assert http.get("/v1/nope").headers["x-request-id"]  # errors too
    unsafe = http.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert unsafe != "bad id\twith spaces"


def test_cors_preflight_allows_browser_clients(http: httpx.Client) -> None:
    response = http.options(
        "/v1/chat/completions",
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] in ("*", "http://example.test")


def test_metrics_count_requests_tokens_and_load(http: httpx.Client) -> None:
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    http.get("/v1/models/unknown")
    text = http.get("/metrics").text
    assert 'largeforge_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'largeforge_requests_total{endpoint="/v1/models/{model}",status="404"}' in text
    assert "largeforge_request_latency_seconds_bucket" in text
    tokens = [line for line in text.splitlines() if line.startswith("largeforge_tokens_generated_total")]
    assert float(tokens[0].split()[-1]) >= 1
    assert "largeforge_queue_depth 0.0" in text
    assert "largeforge_active_requests" in text


def test_health_reports_model_and_load(http: httpx.Client) -> None:
    body = http.get("/health").json()
    assert body["status"] == "healthy"
    assert body["model"] == "tiny"
    assert body["uptime"] >= 0
    assert body["backend"] == "transformers"


def test_health_degraded_and_unhealthy(tiny_engine: Any, server_factory: Any) -> None:
    from litestar.testing import TestClient

    from largeforge_serve.server.app import ServerSettings, create_app

    with server_factory(tiny_engine, degraded_step_seconds=0.0) as server:
        base = server.url.removesuffix("/v1")
        httpx.post(f"{base}/v1/completions", json={"prompt": "a", "max_tokens": 2}, timeout=60)
        assert httpx.get(f"{base}/health").json()["status"] == "degraded"  # every step is "slow"
    # An app whose startup has not loaded the model (no lifespan run) is unhealthy.
    app = create_app(tiny_engine, ServerSettings(model_name="tiny"))
    response = TestClient(app.litestar).get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    tiny_engine.load()  # the servers above shut the shared engine's worker down on exit


def wait_idle(engine: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = engine.stats()
        if stats.active == 0 and stats.queued == 0:
            return True
        time.sleep(0.05)
    return False


def test_client_disconnect_mid_stream_frees_the_slot(http: httpx.Client, tiny_engine: Any) -> None:
    body = {**CHAT, "max_tokens": 2000, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        stats = tiny_engine.stats()
        assert stats.active + stats.queued == 1
    # The connection is closed here; the server cancels the request at its next step.
    assert wait_idle(tiny_engine)


def stream_all(url: str, body: dict[str, Any], out: list[str]) -> None:
    try:
        with httpx.stream("POST", url, json=body, timeout=120) as response:
            out.extend(line for line in response.iter_lines() if line)
    except httpx.HTTPError as exc:
        out.append(f"closed: {type(exc).__name__}")


def test_graceful_shutdown_finishes_in_flight_streams(tiny_model_dir: Path, server_factory: Any) -> None:
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(tiny_model_dir), max_batch_size=2, threads=1)
    lines: list[str] = []
    with server_factory(engine, drain_timeout=30.0) as server:
        body = {**CHAT, "max_tokens": 40, "stream": True, "stream_options": {"include_usage": True}}
        client = threading.Thread(target=stream_all, args=(f"{server.url}/chat/completions", body, lines))
        client.start()
        while not lines:
            time.sleep(0.02)
    # Leaving the block stopped the server while the stream was running.
    client.join(timeout=60)
    assert lines[-1] == "data: [DONE]", lines[-3:]
    usage = json.loads(lines[-2].removeprefix("data: "))["usage"]
    assert usage["completion_tokens"] == 40
    assert not engine.is_loaded or engine.stats().active == 0
    engine.unload()


def test_shutdown_cancels_what_cannot_finish_in_time(tiny_model_dir: Path, server_factory: Any) -> None:
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(str(tiny_model_dir), max_batch_size=2, threads=1)
    lines: list[str] = []
    with server_factory(engine, drain_timeout=1.0) as server:
        body = {**CHAT, "max_tokens": 2000, "stream": True}
        client = threading.Thread(target=stream_all, args=(f"{server.url}/chat/completions", body, lines))
        client.start()
        while not lines:
            time.sleep(0.02)
    client.join(timeout=60)
    assert not client.is_alive()
    assert lines[-1] != "data: [DONE]" or any("error" in line for line in lines)
    assert engine.stats().active == 0
    engine.unload()


def test_chat_template_rejecting_the_conversation_is_400(tiny_model_dir: Path) -> None:
    from litestar.testing import TestClient

    from largeforge_serve.engines.transformers_engine import TransformersEngine
    from largeforge_serve.server.app import ServerSettings, create_app

    engine = TransformersEngine(str(tiny_model_dir), threads=1)
    engine.load()
    # Templates of some models raise on conversations they do not accept.
    engine.tokenizer.chat_template = "{{ raise_exception('Conversation roles must alternate') }}"
    try:
        with TestClient(create_app(engine, ServerSettings(model_name="tiny")).litestar) as client:
            response = client.post("/v1/chat/completions", json=CHAT)
    finally:
        engine.unload()
    error = assert_openai_error(response, 400, "messages")  # type: ignore[arg-type]
    assert "roles must alternate" in error["message"]
