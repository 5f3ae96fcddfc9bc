"""Experts: their configs, health and a thread-safe manager.

An expert is one or more OpenAI-compatible endpoints (replicas), typically ``largeforge serve``
processes. Health comes from two sources: ``GET {endpoint}/health`` probes and the outcome of
real requests (success rate and latency over a sliding window).
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import yaml

from largeforge.config import ExpertConfig, load_config_file
from largeforge.errors import ConfigError, LargeForgeError
from largeforge.utils.io import atomic_write

__all__ = ["ExpertConfig", "ExpertHealth", "ExpertManager", "ExpertStatus", "UnknownExpertError"]

WINDOW = 100  # requests remembered per expert for success rate and latency


class UnknownExpertError(LargeForgeError, KeyError):
    """No expert of that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ExpertStatus(str, enum.Enum):
    """Whether an expert can take requests."""

    READY = "ready"
    LOADING = "loading"
    ERROR = "error"
    DISABLED = "disabled"


@dataclass
class ExpertHealth:
    """An expert's last known health."""

    status: ExpertStatus = ExpertStatus.LOADING
    last_check: datetime | None = None
    latency_ms: float = 0.0
    error_count: int = 0
    success_rate: float = 1.0
    #: endpoint URL → "ready" / "loading" / "error" from the last probe
    endpoints: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "status": self.status.value,
            "last_check": self.last_check.isoformat() if self.last_check else None,
            "latency_ms": round(self.latency_ms, 3),
            "error_count": self.error_count,
            "success_rate": round(self.success_rate, 4),
            "endpoints": dict(self.endpoints),
        }


@dataclass
class _Record:
    config: ExpertConfig
    health: ExpertHealth
    outcomes: deque[tuple[bool, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))
    ok: int = 0  # successes in ``outcomes``
    ok_ms: float = 0.0  # and their summed latency (both kept up to date, not recounted)


def probe_endpoint(client: Any, url: str) -> str:
    """``GET {url}/health`` with an ``httpx.Client``: "ready", "loading" (503) or "error"."""
    try:
        response = client.get(f"{url}/health")
    except Exception:
        return "error"
    if response.status_code == 200:
        return "ready"
    return "loading" if response.status_code == 503 else "error"


def combine_probes(config: ExpertConfig, probes: dict[str, str]) -> ExpertStatus:
    """An expert is ready when any replica is, loading when any is loading, else in error."""
    if not config.enabled:
        return ExpertStatus.DISABLED
    if not probes:
        return ExpertStatus.ERROR
    values = set(probes.values())
    if "ready" in values:
        return ExpertStatus.READY
    return ExpertStatus.LOADING if "loading" in values else ExpertStatus.ERROR


class ExpertManager:
    """Registered experts and their health; every method is safe to call from any thread."""

    def __init__(self, experts: list[ExpertConfig] | None = None) -> None:
        self._lock = threading.RLock()
        self._experts: dict[str, _Record] = {}
        for config in experts or []:
            self.register(config)

    # -- registry ---------------------------------------------------------------------------

    def register(self, config: ExpertConfig, *, replace: bool = False) -> None:
        """Add an expert; an existing name is an error unless ``replace``."""
        with self._lock:
            if config.name in self._experts and not replace:
                raise ConfigError(f"expert {config.name!r} is already registered")
            status = ExpertStatus.LOADING if config.enabled else ExpertStatus.DISABLED
            self._experts[config.name] = _Record(config, ExpertHealth(status=status))

    def unregister(self, name: str) -> ExpertConfig:
        """Remove an expert and return its config."""
        with self._lock:
            try:
                return self._experts.pop(name).config
            except KeyError:
                raise UnknownExpertError(self._unknown(name)) from None

    def get(self, name: str) -> ExpertConfig:
        """The config of ``name``."""
        with self._lock:
            try:
                return self._experts[name].config
            except KeyError:
                raise UnknownExpertError(self._unknown(name)) from None

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._experts

    def list_experts(self) -> list[ExpertConfig]:
        """Every expert, highest priority first (then by name)."""
        with self._lock:
            configs = [r.config for r in self._experts.values()]
        return sorted(configs, key=lambda c: (-c.priority, c.name))

    def enabled_names(self) -> set[str]:
        """Names of the enabled experts (unordered)."""
        with self._lock:
            return {n for n, r in self._experts.items() if r.config.enabled}

    def get_healthy_experts(self) -> list[str]:
        """Names of enabled experts whose last known status is READY."""
        with self._lock:
            return [n for n, r in self._experts.items() if r.config.enabled and r.health.status is ExpertStatus.READY]

    def _unknown(self, name: str) -> str:
        return f"unknown expert {name!r}; known: {', '.join(sorted(self._experts)) or 'none'}"

    # -- health -----------------------------------------------------------------------------

    def get_health(self, name: str) -> ExpertHealth:
        """A copy of the last known health of ``name``."""
        with self._lock:
            try:
                health = self._experts[name].health
            except KeyError:
                raise UnknownExpertError(self._unknown(name)) from None
            return ExpertHealth(**{**health.__dict__, "endpoints": dict(health.endpoints)})

    def update_health(self, name: str, health: ExpertHealth) -> None:
        """Replace the health of ``name`` (e.g. from an external checker)."""
        with self._lock:
            if name not in self._experts:
                raise UnknownExpertError(self._unknown(name))
            self._experts[name].health = health

    def record_probe(self, name: str, probes: dict[str, str]) -> ExpertHealth:
        """Store the result of probing every replica of ``name``; returns the new health."""
        with self._lock:
            record = self._experts.get(name)
            if record is None:
                raise UnknownExpertError(self._unknown(name))
            record.health.status = combine_probes(record.config, probes)
            record.health.endpoints = dict(probes)
            record.health.last_check = datetime.now(timezone.utc)
            return self.get_health(name)

    def check_health(self, name: str, timeout: float = 2.0) -> ExpertHealth:
        """Probe every replica of ``name`` now (blocking) and store the result."""
        import httpx  # heavy: imported where used

        config = self.get(name)
        with httpx.Client(timeout=timeout) as client:
            probes = {url: probe_endpoint(client, url) for url in config.all_endpoints}
        return self.record_probe(name, probes)

    def record_request(self, name: str, success: bool, latency_ms: float) -> None:
        """Count the outcome of one request to ``name`` (success rate, latency, error count)."""
        with self._lock:
            record = self._experts.get(name)
            if record is None:  # removed while the request was in flight
                return
            outcomes = record.outcomes
            if len(outcomes) == outcomes.maxlen and outcomes[0][0]:  # the oldest success leaves
                record.ok -= 1
                record.ok_ms -= outcomes[0][1]
            outcomes.append((success, latency_ms))
            if success:
                record.ok += 1
                record.ok_ms += latency_ms
            else:
                record.health.error_count += 1
            record.health.success_rate = record.ok / len(outcomes)
            record.health.latency_ms = max(0.0, record.ok_ms / record.ok) if record.ok else 0.0

    # -- persistence ------------------------------------------------------------------------

    def save_config(self, path: str | Path) -> Path:
        """Write every expert's config as ``experts:`` in a YAML/TOML/JSON file."""
        path = Path(path)
        data = {"experts": [c.to_dict() for c in self.list_experts()]}
        if path.suffix.lower() == ".json":
            text = msgspec.json.format(msgspec.json.encode(data)).decode() + "\n"
        elif path.suffix.lower() in (".yaml", ".yml"):
            text = yaml.safe_dump(data, sort_keys=False)
        else:
            raise ConfigError(f"{path}: save experts as .yaml, .yml or .json")
        atomic_write(path, text)
        return path

    def load_config(self, path: str | Path) -> list[str]:
        """Register (replacing) every expert listed under ``experts:`` in ``path``."""
        data = load_config_file(path)
        items = data.get("experts") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ConfigError(f"{path}: expected a list under 'experts:'")
        configs = [ExpertConfig.from_dict(item, source=f"{path}: experts[{index}]") for index, item in enumerate(items)]
        for config in configs:
            self.register(config, replace=True)
        return [c.name for c in configs]
