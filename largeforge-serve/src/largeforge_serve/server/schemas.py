"""Bodies of this server's own endpoints (the OpenAI ones are :mod:`largeforge.openai_contract`'s)."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class HealthResponse(Struct):
    status: Literal["healthy", "degraded", "unhealthy"]
    model: str
    uptime: float
    active_requests: int
    queued_requests: int
    backend: str
