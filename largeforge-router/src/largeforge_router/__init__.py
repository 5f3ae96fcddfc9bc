"""LargeForge router: send every query to the expert that knows the answer.

Classifiers (keyword, neural, hybrid), experts with health checks, load balancing, circuit
breaking and a Litestar service with an OpenAI-compatible front door. Public names load lazily
so ``import largeforge_router`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Router": "largeforge_router.router",
    "RoutingDecision": "largeforge_router.routing",
    "KeywordClassifier": "largeforge_router.classifiers.keyword",
    "NeuralClassifier": "largeforge_router.classifiers.neural",
    "HybridClassifier": "largeforge_router.classifiers.hybrid",
    "ExpertManager": "largeforge_router.experts",
    "ExpertHealth": "largeforge_router.experts",
    "ExpertStatus": "largeforge_router.experts",
    "LoadBalancer": "largeforge_router.balancer",
    "CircuitBreaker": "largeforge_router.breaker",
    "create_app": "largeforge_router.app",
    "load_router_config": "largeforge_router.config",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'largeforge_router' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
