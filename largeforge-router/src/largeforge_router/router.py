"""The router: classify a query, pick an expert that can answer, and hand the request to the
:class:`~largeforge_router.forwarding.Forwarder` (replicas, retries, fallback); experts are added
and removed at run time, and their replicas' health is probed in the background
(:mod:`largeforge_router.health`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import msgspec

from largeforge.config import ExpertConfig, RouterConfig
from largeforge.contracts import Classifier
from largeforge.errors import LargeForgeError
from largeforge.utils.logging import get_logger
from largeforge_router.balancer import LoadBalancer
from largeforge_router.breaker import CircuitBreaker
from largeforge_router.classifiers.factory import build_classifier
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.config import RouterFileConfig, ServerSettings, read_labelled
from largeforge_router.experts import ExpertHealth, ExpertManager
from largeforge_router.feedback import FeedbackStore, RecentRoutes, read_corrections, with_corrections
from largeforge_router.forwarding import SLOW_RETRY_AFTER, Forwarded, Forwarder, NoEndpointError
from largeforge_router.metrics import RouterMetrics
from largeforge_router.routing import UNAVAILABLE, RoutingDecision, decide

#: Re-exported: the app and tests import them from here.
__all__ = ["SLOW_RETRY_AFTER", "Forwarded", "NoEndpointError", "Router"]
logger = get_logger("largeforge.router.router")  # under the largeforge logger tree


class Router:
    """Classifier + experts + load balancer + circuit breaker + forwarding."""

    def __init__(
        self,
        config: RouterConfig,
        experts: list[ExpertConfig] | None = None,
        *,
        classifier: Classifier | None = None,
        server: ServerSettings | None = None,
        **classifier_options: Any,
    ) -> None:
        self.config = config
        self.server = server or ServerSettings()
        self.experts = ExpertManager(experts)
        self.metrics = RouterMetrics()
        self.breaker = CircuitBreaker(
            self.server.failure_threshold,
            self.server.reset_timeout,
            on_transition=lambda name, _old, new: self.metrics.set_circuit(name, new),
        )
        self.balancer = LoadBalancer(self.server.load_balancing, self.server.endpoint_weights)
        self.classifier = classifier or build_classifier(config, list(experts or []), **classifier_options)
        #: routed requests by request id, and where corrections of them are stored (``None``: off)
        self.recent = RecentRoutes()
        feedback = getattr(config, "feedback_data", None)
        self.feedback = FeedbackStore(feedback) if feedback else None
        # Keyword matching takes microseconds; anything heavier runs off the event loop.
        self._classify_inline = isinstance(self.classifier, KeywordClassifier)
        self.forwarder = Forwarder(config, self.server, self.experts, self.breaker, self.balancer, self.metrics)
        logger.info(
            "confidence threshold",
            extra={
                "setting": config.confidence_threshold,
                "in_force": config.threshold_for(self.classifier),
                "fallback_expert": config.fallback_expert,
            },
        )
        for expert in experts or []:
            for url in expert.all_endpoints:
                self.metrics.set_circuit(url, "closed")

    @classmethod
    def from_config(cls, config: RouterFileConfig) -> Router:
        """Build from a loaded config file (trains or loads the neural head as configured)."""
        settings = config.classifier
        labelled = read_labelled(settings.training_data) if settings.training_data else []
        training = with_corrections(labelled, read_corrections(settings.feedback_data))
        return cls(
            settings,
            config.experts,
            server=config.server,
            training_data=training or None,
            neural_model=settings.neural_model,
        )

    # -- routing ----------------------------------------------------------------------------

    def route(self, query: str) -> RoutingDecision:
        """Classify ``query`` and pick an expert that can answer."""
        start = time.perf_counter()
        result = self.classifier.classify(query)
        elapsed = time.perf_counter() - start
        known = self.experts.enabled_names()
        decision = decide(
            result,
            self.config,
            known,
            routing_time_ms=elapsed * 1000,
            threshold=self.config.threshold_for(self.classifier),
        )
        if decision.fallback_reason is None and not self.is_available(decision.expert):
            decision.expert, decision.fallback_reason = self.config.fallback_expert, UNAVAILABLE
        self.metrics.classification_seconds.observe(elapsed)
        self.metrics.decisions.labels(expert=decision.expert, method=decision.method).inc()
        if decision.fallback_reason:
            self.metrics.fallbacks.labels(reason=decision.fallback_reason).inc()
        return decision

    async def aroute(self, query: str) -> RoutingDecision:
        """:meth:`route` without blocking the event loop on a neural classifier."""
        if self._classify_inline:
            return self.route(query)
        return await asyncio.to_thread(self.route, query)

    def is_available(self, name: str) -> bool:
        """Enabled, and at least one replica whose circuit lets requests through."""
        if name not in self.experts:
            return False
        config = self.experts.get(name)
        return config.enabled and any(self.breaker.can_execute(u) for u in config.all_endpoints)

    # -- experts ----------------------------------------------------------------------------

    def add_expert(self, config: ExpertConfig) -> None:
        """Register an expert and teach the keyword classifier its keywords."""
        self.experts.register(config)
        keyword = _keyword_part(self.classifier)
        if keyword is not None and config.enabled:
            keyword.add_expert(config.name, list(config.keywords))
        for url in config.all_endpoints:
            self.metrics.set_circuit(url, self.breaker.get_state(url))

    def remove_expert(self, name: str) -> ExpertConfig:
        """Unregister an expert (the fallback expert cannot be removed)."""
        if name == self.config.fallback_expert:
            raise LargeForgeError(f"expert {name!r} is the fallback expert and cannot be removed")
        config = self.experts.unregister(name)
        keyword = _keyword_part(self.classifier)
        if keyword is not None:
            keyword.remove_expert(name)
        return config

    def get_expert_status(self) -> dict[str, ExpertHealth]:
        """Health of every expert."""
        return {e.name: self.experts.get_health(e.name) for e in self.experts.list_experts()}

    def describe_experts(self) -> list[dict[str, Any]]:
        """Config, health and per-replica circuit and balancer state (``GET /experts``)."""
        stats = self.balancer.get_stats()["instances"]
        out = []
        for config in self.experts.list_experts():
            health = self.experts.get_health(config.name)
            endpoints = [
                {
                    "url": url,
                    "circuit": self.breaker.snapshot(url),
                    "health": health.endpoints.get(url),
                    **stats.get(url, {"active_connections": 0, "requests": 0, "failures": 0}),
                }
                for url in config.all_endpoints
            ]
            out.append(
                {
                    **config.to_dict(),
                    "available": self.is_available(config.name),
                    "health": health.to_dict(),
                    "endpoints": endpoints,
                }
            )
        return out

    # -- health checks and forwarding --------------------------------------------------------

    async def check_health(self) -> None:
        """Probe ``/health`` of every replica of every enabled expert once, concurrently."""
        await self.forwarder.health.check_all()

    async def health_loop(self) -> None:
        """Probe the replicas every ``health_check_interval`` seconds (until cancelled)."""
        await self.forwarder.health.loop()

    def client(self) -> aiohttp.ClientSession:
        """The shared HTTP client towards the experts (created on first use, in the running loop)."""
        return self.forwarder.client()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.forwarder.aclose()

    def plan(self, expert: str) -> list[tuple[str, str]]:
        """(expert, replica) pairs to try in order: the expert's replicas, then the fallback's."""
        return self.forwarder.plan(expert)

    def payload_for(self, expert: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The request as ``expert`` should see it: its model name, its token cap and default temperature."""
        return self.forwarder.payload_for(expert, payload)

    async def forward(
        self, path: str, payload: dict[str, Any], expert: str, *, stream: bool = False, request_id: str | None = None
    ) -> Forwarded:
        """POST ``payload`` to ``path`` on a replica of ``expert``, retrying on other replicas and
        then on the fallback expert (:meth:`Forwarder.forward`)."""
        return await self.forwarder.forward(path, payload, expert, stream=stream, request_id=request_id)

    # -- convenience ------------------------------------------------------------------------

    async def agenerate(
        self, query: str, *, expert: str | None = None, max_tokens: int | None = None, temperature: float | None = None
    ) -> dict[str, Any]:
        """Route ``query`` (unless ``expert`` is given), ask the expert, return text and routing."""
        decision = await self.aroute(query) if expert is None else None
        target = expert or (decision.expert if decision else self.config.fallback_expert)
        payload: dict[str, Any] = {"messages": [{"role": "user", "content": query}]}
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        if temperature is not None:
            payload["temperature"] = temperature
        answer = await self.forward("/v1/chat/completions", payload, target)
        if answer.status != 200:
            raise LargeForgeError(
                f"expert {answer.expert!r} answered HTTP {answer.status}: "
                f"{answer.content[:300].decode('utf-8', 'replace')}"
            )
        body = msgspec.json.decode(answer.content)
        return {
            "text": body["choices"][0]["message"]["content"],
            "expert": answer.expert,
            "endpoint": answer.endpoint,
            "routing": decision.to_dict() if decision else None,
            "usage": body.get("usage"),
            "attempts": answer.attempts,
        }

    def generate(self, query: str, **options: Any) -> str:
        """Blocking :meth:`agenerate` returning just the text (outside an event loop)."""

        async def once() -> str:
            try:
                return str((await self.agenerate(query, **options))["text"])
            finally:
                await self.aclose()

        return asyncio.run(once())


def _keyword_part(classifier: Any) -> Any:
    """The keyword classifier inside ``classifier`` (itself, or a hybrid's half), if any."""
    if hasattr(classifier, "add_expert"):
        return classifier
    return getattr(classifier, "keyword_classifier", None)
