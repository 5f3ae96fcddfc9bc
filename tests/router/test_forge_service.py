"""The forge's ``router`` launcher: the config it writes is one the router loads, with the
team's endpoints, its classifier and the rows it trains on. The forge runs it (core's tests
start a stub router through the same hook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from largeforge.config import RouterConfig
from largeforge.forge.launchers import ROUTER, RouterLaunch, ServedExpert
from largeforge_router import plugin
from largeforge_router.config import load_router_config, read_labelled
from largeforge_router.forge_service import router_services


def test_the_plugin_registers_the_router_launcher(pm: Any) -> None:
    pm.register(plugin, name="router")
    entry = pm.registries.forge_services.entry("router")
    assert (entry.value.role, entry.value.launch, entry.provider) == (ROUTER, router_services, "router")


def test_the_router_runs_on_the_config_it_writes(tmp_path: Path) -> None:
    request = RouterLaunch(
        experts=[
            ServedExpert("code", tmp_path, False, "Programming.", ("python",)),
            ServedExpert("general", tmp_path, False),
        ],
        endpoints={"code": ["http://127.0.0.1:9001", "http://127.0.0.1:9003"], "general": ["http://127.0.0.1:9002"]},
        classifier=RouterConfig(classifier_type="keyword", fallback_expert="general"),
        training_rows=[{"query": "fix my loop", "expert": "code"}],
        host="127.0.0.1",
        port=9100,
        folder=tmp_path,
        feedback="feedback.jsonl",
    )
    [spec] = router_services(request)
    assert spec.url == "http://127.0.0.1:9100" and spec.argv[-4:] == ["router", "serve", "--config", spec.argv[-1]]
    config = load_router_config(spec.argv[-1])
    assert [(e.name, e.endpoints, e.keywords) for e in config.experts] == [
        ("code", ["http://127.0.0.1:9001", "http://127.0.0.1:9003"], ["python"]),
        ("general", ["http://127.0.0.1:9002"], []),
    ]
    assert (config.server.host, config.server.port, config.classifier.fallback_expert) == ("127.0.0.1", 9100, "general")
    assert config.classifier.feedback_data == str(tmp_path / "feedback.jsonl")
    assert read_labelled(config.classifier.training_data) == [("fix my loop", "code")]
