"""Forwarding a request to an expert, with retries and fallback.

Forwarding is asynchronous (``aiohttp.ClientSession``: its C HTTP parser keeps the extra hop
cheap; one keep-alive pool per router, pooled per replica). A failed attempt (connection error,
timeout, a 5xx that is the replica's own fault) is recorded against the replica's circuit and
retried on the next replica of the same expert, then on the fallback expert, as long as nothing
has reached the client: for streams the first chunk is read before the response is committed. A
busy replica (429, 503 with ``Retry-After``) is skipped without being counted; an error of the
request itself (4xx, or a 5xx the expert attributes to the request) goes back to the client as
it is (see :mod:`largeforge_router.outcomes`).

A read timeout (no answer, or no next chunk, within ``request_timeout``) is not a fault by
itself: a replica with a long queue is slow, not broken. The forwarder then asks the replica's
``/health`` (:meth:`HealthChecker.alive`): if it answers 200 the replica is alive and merely
loaded, so the attempt is skipped like a busy one and its circuit is untouched; if it does not,
the timeout counts as a fault. Connect failures and failed health checks always count.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from largeforge.config import RouterConfig
from largeforge.errors import LargeForgeError
from largeforge.utils.logging import get_logger
from largeforge_router.balancer import LoadBalancer
from largeforge_router.breaker import CircuitBreaker
from largeforge_router.config import ServerSettings
from largeforge_router.experts import ExpertManager
from largeforge_router.health import HealthChecker
from largeforge_router.metrics import RouterMetrics
from largeforge_router.outcomes import classify, retry_after

logger = get_logger("largeforge.router.router")  # under the largeforge logger tree
#: Retry-After (seconds) when every replica was too slow to answer within request_timeout.
SLOW_RETRY_AFTER = 5
#: Idle keep-alive connections to experts are dropped after this many seconds: below uvicorn's
#: 5 s server-side keep-alive timeout, so the router never reuses a connection the expert is
#: closing at that moment (which would count as a failed attempt).
KEEPALIVE_SECONDS = 4.0
DONE_MARKER = b"data: [DONE]"


class NoEndpointError(LargeForgeError):
    """Every replica of the chosen expert and of the fallback failed, was busy or has an open
    circuit. ``busy``: every attempt was turned away by backpressure; ``retry_after``: seconds
    until a replica may take the request (its ``Retry-After``, or the soonest circuit trial)."""

    def __init__(
        self, message: str, attempts: list[dict[str, Any]], *, retry_after: int = 1, busy: bool = False
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retry_after = retry_after
        self.busy = busy


@dataclass
class Forwarded:
    """An expert's answer: the whole body, or an open stream whose first chunk already arrived."""

    expert: str
    endpoint: str
    status: int
    content_type: str
    content: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Forwarder:
    """Sends requests to the experts' replicas in the order the balancer and the circuits allow,
    through one pooled HTTP client; ``config`` names the fallback expert."""

    def __init__(
        self,
        config: RouterConfig,
        server: ServerSettings,
        experts: ExpertManager,
        breaker: CircuitBreaker,
        balancer: LoadBalancer,
        metrics: RouterMetrics,
    ) -> None:
        self.config = config
        self.server = server
        self.experts = experts
        self.breaker = breaker
        self.balancer = balancer
        self.metrics = metrics
        self.health = HealthChecker(server, experts, breaker, self.client)
        self._client: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        """The shared HTTP client (created on first use, in the running event loop)."""
        if self._client is None:
            # sock_read bounds each read (the whole answer, or each chunk of a stream); connect
            # bounds getting a connection (from the pool or new), sock_connect the TCP connect.
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.server.request_timeout,
                sock_connect=self.server.connect_timeout,
                sock_read=self.server.request_timeout,
            )
            connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS)
            self._client = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def plan(self, expert: str) -> list[tuple[str, str]]:
        """(expert, replica) pairs to try in order: the expert's replicas, then the fallback's."""
        pairs: list[tuple[str, str]] = []
        for name in dict.fromkeys([expert, self.config.fallback_expert]):
            if name not in self.experts or not self.experts.get(name).enabled:
                continue
            urls = [u for u in self.experts.get(name).all_endpoints if self.breaker.can_execute(u)]
            pairs += [(name, url) for url in self.balancer.order(name, urls)]
        return pairs

    def payload_for(self, expert: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The request as the expert should see it: its model name, its token cap and default
        temperature."""
        config = self.experts.get(expert)
        body = dict(payload)
        body["model"] = config.model_path or config.name
        # Both names of the completion cap are capped (an expert reads max_completion_tokens first).
        capped = False
        for key in ("max_tokens", "max_completion_tokens"):
            requested = body.get(key)
            if isinstance(requested, int) and not isinstance(requested, bool):
                body[key] = min(requested, config.max_tokens)
            capped |= requested is not None  # anything not an int is left for the expert to reject
        if not capped:
            body["max_tokens"] = config.max_tokens
        if body.get("temperature") is None:
            body["temperature"] = config.temperature
        return body

    async def forward(
        self, path: str, payload: dict[str, Any], expert: str, *, stream: bool = False, request_id: str | None = None
    ) -> Forwarded:
        """POST ``payload`` to ``path`` (e.g. ``/v1/chat/completions``) on a replica of ``expert``,
        retrying on other replicas and then on the fallback expert."""
        client = self.client()
        headers = {"content-type": "application/json"}
        if request_id:
            headers["x-request-id"] = request_id
        attempts: list[dict[str, Any]] = []
        waits: list[int] = []  # Retry-After of busy replicas
        for name, url in self.plan(expert):
            if not self.breaker.acquire(url):
                continue
            body = msgspec.json.encode(self.payload_for(name, payload))
            start = time.perf_counter()
            self.balancer.begin(url)
            committed = False
            response: aiohttp.ClientResponse | None = None
            try:
                response = await client.post(url + path, data=body, headers=headers, allow_redirects=False)
                outcome = classify(response.status, response.headers)
                if outcome in ("busy", "fault"):
                    detail = (await response.read())[:200].decode("utf-8", "replace")
                    if outcome == "fault":
                        self._failed(name, url, f"HTTP {response.status}: {detail}", attempts)
                    else:
                        waits.append(retry_after(response.headers) or 1)
                        self._busy(name, url, f"HTTP {response.status}: {detail}", attempts)
                    continue
                if not (stream and response.status == 200):
                    content = await response.read()
                    if response.status >= 500:  # the expert says: this request's own failure
                        self._request_failed(name, url)
                    else:
                        self._succeeded(name, url, start, "ok" if outcome == "ok" else "client_error")
                    return Forwarded(
                        name,
                        url,
                        response.status,
                        response.headers.get("content-type", "application/json"),
                        content=content,
                        attempts=attempts,
                    )
                chunks = response.content.iter_any()
                try:
                    first = await chunks.__anext__()
                except StopAsyncIteration:
                    first = b""
                self.metrics.first_chunk_seconds.labels(expert=name).observe(time.perf_counter() - start)
                committed = True
                return Forwarded(
                    name,
                    url,
                    200,
                    response.headers.get("content-type", "text/event-stream"),
                    stream=self._relay(name, url, start, first, chunks, response),
                    attempts=attempts,
                )
            except aiohttp.SocketTimeoutError as exc:  # no answer in time: loaded, or hung?
                error = f"no answer within {self.server.request_timeout:g}s ({exc})"
                if await self.health.alive(url):
                    waits.append(SLOW_RETRY_AFTER)
                    self._busy(name, url, f"{error}; /health answers, so it is slow, not down", attempts, slow=True)
                else:
                    self._failed(name, url, f"{error}; /health does not answer either", attempts)
            except (aiohttp.ClientError, TimeoutError) as exc:  # connection refused, connect timeouts, broken reads
                self._failed(name, url, f"{type(exc).__name__}: {exc}", attempts)
            finally:
                if not committed:
                    self.balancer.end(url)
                    if response is not None:
                        response.release()  # back to the pool when fully read, else closed
        tried = ", ".join(f"{a['endpoint']} ({a['error']})" for a in attempts) or "no replica has a closed circuit"
        busy = bool(attempts) and all(a.get("busy") for a in attempts)
        if waits:
            wait = min(waits)
        else:
            urls = [
                u
                for n in (expert, self.config.fallback_expert)
                if n in self.experts
                for u in self.experts.get(n).all_endpoints
            ]
            wait = max(1, math.ceil(self.breaker.retry_in(urls)))
        what = "every replica is busy" if busy else "no healthy endpoint"
        if busy and any(a.get("slow") for a in attempts):
            what = "every replica is busy or too slow"
        raise NoEndpointError(
            f"{what} for expert {expert!r} or the fallback {self.config.fallback_expert!r}: {tried}",
            attempts,
            retry_after=wait,
            busy=busy,
        )

    def _failed(self, expert: str, url: str, error: str, attempts: list[dict[str, Any]]) -> None:
        logger.warning("attempt on %s failed: %s", url, error, extra={"expert": expert, "endpoint": url})
        attempts.append({"expert": expert, "endpoint": url, "error": error})
        self.breaker.record_failure(url, error)
        self.balancer.report_failure(url)
        self.experts.record_request(expert, False, 0.0)
        self.metrics.upstream_failures.labels(expert=expert, endpoint=url).inc()

    def _busy(self, expert: str, url: str, error: str, attempts: list[dict[str, Any]], *, slow: bool = False) -> None:
        """A replica turned the request away (backpressure) or is alive but too slow to answer
        (``slow``): not a fault, try the next one."""
        logger.info("%s is %s: %s", url, "slow" if slow else "busy", error, extra={"expert": expert, "endpoint": url})
        attempts.append(
            {"expert": expert, "endpoint": url, "error": error, "busy": True, **({"slow": True} if slow else {})}
        )
        self.breaker.release(url)
        self.metrics.upstream_busy.labels(expert=expert, endpoint=url).inc()

    def _request_failed(self, expert: str, url: str) -> None:
        """The expert failed this request and says the request, not the replica, is the cause."""
        self.breaker.release(url)
        self.metrics.requests.labels(expert=expert, outcome="request_error").inc()

    def _succeeded(self, expert: str, url: str, start: float, outcome: str = "ok") -> None:
        seconds = time.perf_counter() - start
        self.breaker.record_success(url)
        self.balancer.report_success(url, seconds * 1000)
        self.experts.record_request(expert, True, seconds * 1000)
        self.metrics.request_seconds.labels(expert=expert).observe(seconds)
        self.metrics.requests.labels(expert=expert, outcome=outcome).inc()

    async def _relay(
        self,
        expert: str,
        url: str,
        start: float,
        first: bytes,
        chunks: AsyncIterator[bytes],
        response: aiohttp.ClientResponse,
    ) -> AsyncIterator[bytes]:
        """Pass a stream through chunk by chunk; a failure after the first chunk ends the stream
        with an OpenAI-shaped error event (the client already has part of the answer). A stream
        counts once, as a success as soon as its ``data: [DONE]`` has been passed on (a client
        may close right after it)."""
        verdict = False
        tail = b""  # the last bytes passed on, to spot [DONE] split across chunks
        try:
            if first:
                tail = first[-32:]
                yield first
            async for chunk in chunks:
                tail = (tail + chunk)[-32:]
                yield chunk
            verdict = True
            self._succeeded(expert, url, start)
        except (aiohttp.ClientError, TimeoutError) as exc:
            verdict = True
            if isinstance(exc, aiohttp.SocketTimeoutError) and await self.health.alive(url):
                self.breaker.release(url)  # a stalled step of a loaded replica, not a dead one
            else:
                self._failed(expert, url, f"stream broken: {exc}", [])
            self.metrics.requests.labels(expert=expert, outcome="broken_stream").inc()
            error = {
                "error": {
                    "message": f"expert {expert!r} failed mid-stream: {exc}",
                    "type": "upstream_error",
                    "code": "stream_broken",
                }
            }
            yield b"data: " + msgspec.json.encode(error) + b"\n\n"
        finally:
            if not verdict and DONE_MARKER in tail:  # the whole answer went out, then the client left
                self._succeeded(expert, url, start)
            elif not verdict:  # client went away mid-answer: neither a success nor the replica's fault
                self.breaker.release(url)
            self.balancer.end(url)
            response.release()
