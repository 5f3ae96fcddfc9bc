"""Health of the experts' replicas: a probe of every replica's ``/health`` every
``health_check_interval`` seconds, and a one-off question whether a slow replica is alive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from largeforge.utils.logging import get_logger
from largeforge_router.breaker import CircuitBreaker
from largeforge_router.config import ServerSettings
from largeforge_router.experts import ExpertManager

logger = get_logger("largeforge.router.router")  # under the largeforge logger tree


class HealthChecker:
    """Probes replicas through the router's HTTP ``client`` and records what it finds in the
    experts' health and the replicas' circuits."""

    def __init__(
        self,
        server: ServerSettings,
        experts: ExpertManager,
        breaker: CircuitBreaker,
        client: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.server = server
        self.experts = experts
        self.breaker = breaker
        self.client = client

    async def check_all(self) -> None:
        """Probe ``/health`` of every replica of every enabled expert once, concurrently."""
        client = self.client()
        experts = [e for e in self.experts.list_experts() if e.enabled and e.all_endpoints]

        timeout = aiohttp.ClientTimeout(total=self.server.health_check_timeout)

        async def probe(url: str) -> str:
            try:
                async with client.get(f"{url}/health", timeout=timeout, allow_redirects=False) as response:
                    await response.read()  # read to the end, so the connection is kept alive
                    code = response.status
            except Exception:
                status = "error"
            else:
                status = "ready" if code == 200 else "loading" if code == 503 else "error"
            if status == "ready":
                self.breaker.record_probe_success(url)
            elif status == "error":
                self.breaker.record_failure(url, "health check failed")
            return status

        for expert in experts:
            results = await asyncio.gather(*(probe(u) for u in expert.all_endpoints))
            if expert.name in self.experts:
                self.experts.record_probe(expert.name, dict(zip(expert.all_endpoints, results, strict=True)))

    async def loop(self) -> None:
        """Run :meth:`check_all` every ``health_check_interval`` seconds (until cancelled)."""
        interval = self.server.health_check_interval
        if interval <= 0:
            return
        while True:
            try:
                await self.check_all()
            except Exception:  # a probing bug must not stop probing
                logger.exception("health check round failed")
            await asyncio.sleep(interval)

    async def alive(self, url: str) -> bool:
        """Whether ``url``'s ``/health`` answers 200 within ``health_check_timeout`` (a replica
        that does is loaded, not down)."""
        timeout = aiohttp.ClientTimeout(total=self.server.health_check_timeout)
        try:
            async with self.client().get(f"{url}/health", timeout=timeout, allow_redirects=False) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
