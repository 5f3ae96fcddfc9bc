"""What the server's handlers share: its settings and the per-app serving state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from largeforge_serve.engines.base import ServingEngine
from largeforge_serve.server.errors import APIError
from largeforge_serve.server.metrics import ServerMetrics

if TYPE_CHECKING:
    from litestar import Request

    from largeforge_serve.server.gateway import Gateway


@dataclass
class ServerSettings:
    """How the HTTP layer behaves (the engine holds the model-side limits)."""

    #: The name clients use in ``model`` for the base model (``--served-model-name``).
    model_name: str
    backend: str = "transformers"
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ("*",)
    max_body_size: int = 1_000_000
    drain_timeout: float = 10.0
    #: /health says "degraded" when a decode step takes longer than this (seconds).
    degraded_step_seconds: float = 5.0
    started: float = field(default_factory=time.time)


@dataclass
class ServingState:
    engine: ServingEngine
    settings: ServerSettings
    metrics: ServerMetrics
    loaded: bool = False
    openapi: bytes = b""  # the OpenAPI document, encoded once
    #: Set when the engine runs its own server (llama.cpp, vLLM) and requests are forwarded to it.
    gateway: Gateway | None = None

    def resolve_model(self, requested: str | None) -> str | None:
        """The adapter a request's ``model`` names (None = base model); 404 when unknown."""
        if requested is None or requested == self.settings.model_name:
            return None
        if requested in self.engine.adapter_names:
            return requested
        raise APIError(
            404,
            f"The model `{requested}` does not exist. Available: {', '.join(self.model_ids())}",
            param="model",
            code="model_not_found",
        )

    def model_ids(self) -> list[str]:
        return [self.settings.model_name, *self.engine.adapter_names]


def serving_state(request: Request[Any, Any, Any]) -> ServingState:
    """The state of the app serving ``request``."""
    return request.app.state.serving  # type: ignore[no-any-return]
