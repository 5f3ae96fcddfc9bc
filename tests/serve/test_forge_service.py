"""The forge's ``experts`` launcher: the ``serve inference`` command lines of a pipeline's team,
one server per expert or one with every adapter. The forge runs them (core's tests start a stub
team through the same hook)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from largeforge.forge.launchers import EXPERTS, ExpertsLaunch, ServedExpert
from largeforge.forge.spec import ServeSpec
from largeforge_serve import plugin
from largeforge_serve.forge_service import expert_services


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def team(tmp_path: Path, *, adapter: bool) -> list[ServedExpert]:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.gguf").write_bytes(b"GGUF")
    return [ServedExpert("a", tmp_path / "a", adapter), ServedExpert("b", tmp_path / "b", adapter)]


def test_the_plugin_registers_the_experts_launcher(pm: Any) -> None:
    pm.register(plugin, name="serve")
    entry = pm.registries.forge_services.entry("serve")
    assert (entry.value.role, entry.value.launch, entry.provider) == (EXPERTS, expert_services, "serve")


def test_a_server_per_expert_on_consecutive_ports(tmp_path: Path) -> None:
    serve = ServeSpec(base_port=9100, backend="auto", max_concurrency=2)
    specs = expert_services(ExpertsLaunch(team(tmp_path, adapter=False), "base", serve, "transformers"))
    assert [(s.name, s.url, s.experts) for s in specs] == [
        ("a", "http://127.0.0.1:9100", ("a",)),
        ("b", "http://127.0.0.1:9101", ("b",)),
    ]
    a, b = (s.argv for s in specs)
    assert a[:5] == [sys.executable, "-m", "largeforge.cli.main", "serve", "inference"]
    assert option(a, "--model") == str(tmp_path / "a") and option(b, "--model") == str(tmp_path / "b" / "model.gguf")
    assert option(b, "--served-model-name") == "b" and option(b, "--max-concurrency") == "2"
    assert option(a, "--backend") == "auto"  # each server resolves auto for its own model


def test_one_server_with_every_adapter(tmp_path: Path) -> None:
    serve = ServeSpec(mode="adapters", base_port=9200, backend="auto")
    [spec] = expert_services(ExpertsLaunch(team(tmp_path, adapter=True), "base", serve, "llamacpp"))
    assert (spec.url, spec.experts) == ("http://127.0.0.1:9200", ("a", "b"))
    assert option(spec.argv, "--model") == "base" and option(spec.argv, "--backend") == "llamacpp"
    assert [spec.argv[i + 1] for i, arg in enumerate(spec.argv) if arg == "--adapter"] == [
        f"a={tmp_path / 'a'}",
        f"b={tmp_path / 'b'}",
    ]
