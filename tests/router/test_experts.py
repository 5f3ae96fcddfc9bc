"""ExpertManager: registry, health probes against real servers, request stats, persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from largeforge.config import ExpertConfig
from largeforge.errors import ConfigError
from largeforge_router.experts import ExpertManager, ExpertStatus, UnknownExpertError
from tests.helpers import free_port

from .router_testing import ExpertServer


def test_register_get_list_unregister() -> None:
    manager = ExpertManager([ExpertConfig(name="b", priority=1), ExpertConfig(name="a", priority=5)])
    assert [e.name for e in manager.list_experts()] == ["a", "b"]
    assert manager.get("a").priority == 5
    with pytest.raises(ConfigError, match="already registered"):
        manager.register(ExpertConfig(name="a"))
    manager.register(ExpertConfig(name="a", priority=0), replace=True)
    assert [e.name for e in manager.list_experts()] == ["b", "a"]
    manager.unregister("a")
    with pytest.raises(UnknownExpertError, match="unknown expert 'a'; known: b"):
        manager.get("a")


def test_health_check_against_real_replicas() -> None:
    up = ExpertServer("code")
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        manager = ExpertManager(
            [
                ExpertConfig(name="code", endpoints=[up.url, dead]),
                ExpertConfig(name="gone", endpoints=[dead]),
                ExpertConfig(name="off", endpoints=[up.url], enabled=False),
            ]
        )
        health = manager.check_health("code")
        assert health.status is ExpertStatus.READY
        assert health.endpoints == {up.url: "ready", dead: "error"}
        assert health.last_check is not None
        assert manager.check_health("gone").status is ExpertStatus.ERROR
        assert manager.check_health("off").status is ExpertStatus.DISABLED
        assert manager.get_healthy_experts() == ["code"]
    finally:
        up.stop()


def test_request_stats_are_thread_safe() -> None:
    manager = ExpertManager([ExpertConfig(name="code")])

    def work() -> None:
        for i in range(200):
            manager.record_request("code", i % 4 != 0, 10.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    health = manager.get_health("code")
    assert health.error_count == 200
    assert health.success_rate == pytest.approx(0.75, abs=0.02)
    assert health.latency_ms == 10.0


def test_save_and_load(tmp_path: Path) -> None:
    manager = ExpertManager([ExpertConfig(name="code", keywords=["python"], endpoints=["http://h:1"])])
    path = manager.save_config(tmp_path / "experts.yaml")
    other = ExpertManager()
    assert other.load_config(path) == ["code"]
    assert other.get("code") == manager.get("code")
    path.write_text("experts:\n  - name: code\n    max_tokens: 0\n")
    with pytest.raises(ConfigError, match=r"experts\[0\]: max_tokens = 0 is invalid"):
        other.load_config(path)
