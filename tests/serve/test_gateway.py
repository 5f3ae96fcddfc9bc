"""The gateway in front of an engine's own server (UpstreamEngine), engine-independent.

The upstream here is a real ``largeforge serve`` child process over the tiny model: the gateway
must forward it byte for byte, and add keys, request ids, model checks, backpressure,
cancellation and metrics of its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from largeforge_serve.engines.upstream import UpstreamEngine, UpstreamStartError


class ServeUpstream(UpstreamEngine):
    """``largeforge serve inference`` on the tiny model, as an upstream."""

    backend_name = "test-upstream"
    startup_timeout = 240.0

    def command(self, host: str, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "largeforge.cli.main",
            "serve",
            "inference",
            "--model",
            self.model_path,
            "--backend",
            "transformers",
            "--host",
            host,
            "--port",
            str(port),
            "--threads",
            "1",
            "--served-model-name",
            "base",
            "--max-concurrency",
            "2",
            "--max-queue",
            "4",
        ]


class FailingUpstream(UpstreamEngine):
    backend_name = "failing"

    def command(self, host: str, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('cannot load the model: bad magic'); sys.exit(3)"]


@pytest.fixture(scope="module")
def upstream(tiny_model_dir: Path) -> Iterator[ServeUpstream]:
    engine = ServeUpstream(str(tiny_model_dir), adapters={"alt": "unused"}, max_batch_size=1, max_queue=1)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def gateway(upstream: ServeUpstream, server_factory: Any) -> Iterator[Any]:
    with server_factory(upstream, model_name="tiny", api_keys=("sekret",)) as server:
        yield server


def _auth() -> dict[str, str]:
    return {"Authorization": "Bearer sekret"}


def _chat(**extra: Any) -> dict[str, Any]:
    return {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "temperature": 0,
        **extra,
    }


def test_forwards_chat_and_completions_with_request_id(gateway: Any) -> None:
    base = gateway.url
    answer = httpx.post(f"{base}/chat/completions", json=_chat(), headers={**_auth(), "X-Request-ID": "req-42"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "req-42"
    body = answer.json()
    assert body["object"] == "chat.completion" and body["usage"]["completion_tokens"] >= 1
    text = httpx.post(
        f"{base}/completions",
        headers=_auth(),
        json={"model": "tiny", "prompt": "Hello", "max_tokens": 3, "temperature": 0},
    )
    assert text.status_code == 200 and text.json()["object"] == "text_completion"


def test_streams_pass_through_chunk_by_chunk(gateway: Any) -> None:
    with httpx.stream(
        "POST", f"{gateway.url}/chat/completions", headers=_auth(), json=_chat(stream=True, max_tokens=5)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 3


def test_upstream_errors_reach_the_client_as_they_are(gateway: Any) -> None:
    # The upstream refuses an out-of-range value with its own 400; the gateway must not turn it into a 5xx.
    answer = httpx.post(f"{gateway.url}/chat/completions", json=_chat(temperature=9), headers=_auth())
    assert answer.status_code == 400 and answer.json()["error"]["param"]


def test_checks_before_forwarding(gateway: Any) -> None:
    base = gateway.url
    assert httpx.post(f"{base}/chat/completions", json=_chat()).status_code == 401
    unknown = httpx.post(f"{base}/chat/completions", json=_chat(model="nope"), headers=_auth())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    bad = httpx.post(f"{base}/chat/completions", content=b"{not json", headers=_auth())
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    assert httpx.post(f"{base}/chat/completions", content=b"[1]", headers=_auth()).status_code == 400
    big = httpx.post(f"{base}/chat/completions", content=b" " * 1_000_001, headers=_auth())  # the 1 MB default
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    wrong = httpx.get(f"{base}/chat/completions", headers=_auth())
    assert wrong.status_code == 405
    models = httpx.get(f"{base}/models", headers=_auth()).json()
    assert [m["id"] for m in models["data"]] == ["tiny", "alt"]


def test_adapter_names_become_the_upstream_model(upstream: ServeUpstream) -> None:
    assert upstream.upstream_body({"model": "alt"}, "alt")["model"] == "alt"
    assert upstream.upstream_body({"model": "tiny"}, None)["model"] == "base"


def _upstream_active(upstream: ServeUpstream) -> int:
    return int(httpx.get(upstream.upstream_url + "/health").json()["active_requests"])


def test_backpressure_and_cancellation_on_disconnect(gateway: Any, upstream: ServeUpstream) -> None:
    """Capacity 2 (1 active + 1 queued): a third request is refused with Retry-After; closing
    streams frees their places and stops generation upstream."""
    client = httpx.Client(timeout=60)
    streams = []
    try:
        for _ in range(2):
            cm = client.stream(
                "POST",
                f"{gateway.url}/chat/completions",
                headers=_auth(),
                json=_chat(stream=True, max_tokens=2000, temperature=1.0),
            )
            response = cm.__enter__()
            assert response.status_code == 200
            streams.append((cm, response))
        lines = streams[0][1].iter_lines()  # kept: dropping the iterator closes the response
        next(lines)  # the first is generating upstream
        assert upstream.admission.in_flight == 2
        refused = client.post(f"{gateway.url}/chat/completions", json=_chat(), headers=_auth())
        assert refused.status_code == 503, (refused.text, upstream.admission.in_flight)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "server_overloaded"
        assert _upstream_active(upstream) >= 1
    finally:
        for cm, _response in streams:
            cm.__exit__(None, None, None)
        client.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (upstream.admission.in_flight or _upstream_active(upstream)):
        time.sleep(0.2)
    assert upstream.admission.in_flight == 0
    assert _upstream_active(upstream) == 0
    assert httpx.post(f"{gateway.url}/chat/completions", json=_chat(), headers=_auth()).status_code == 200


def test_metrics_include_the_upstreams_own(gateway: Any) -> None:
    httpx.post(f"{gateway.url}/chat/completions", json=_chat(), headers=_auth())
    text = httpx.get(gateway.url.removesuffix("/v1") + "/metrics").text
    # LargeForge's own series, then the upstream's (a LargeForge server here: the same names again).
    assert text.count("# TYPE largeforge_requests_total counter") == 2
    assert "largeforge_time_to_first_token_seconds" in text


def test_a_server_that_exits_while_starting_says_why(tiny_model_dir: Path) -> None:
    engine = FailingUpstream(str(tiny_model_dir))
    with pytest.raises(UpstreamStartError, match=r"(?s)exited with code 3.*bad magic"):
        engine.load()
    assert engine.proc is None


def test_dead_upstream_is_unhealthy_and_refused(tiny_model_dir: Path, server_factory: Any) -> None:
    engine = ServeUpstream(str(tiny_model_dir))
    engine.load()
    with server_factory(engine, model_name="tiny") as server:
        root = server.url.removesuffix("/v1")
        assert httpx.get(root + "/health").status_code == 200
        assert engine.proc is not None
        engine.proc.kill()
        engine.proc.wait()
        health = httpx.get(root + "/health")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        answer = httpx.post(f"{server.url}/chat/completions", json=_chat())
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "engine_unavailable"
        assert "retry-after" in answer.headers
    engine.unload()
