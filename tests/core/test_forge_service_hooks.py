"""``forge --up`` starts whatever the plugins registered through ``register_forge_services`` say:
a test plugin's stub experts and stub router (plain HTTP servers on loopback) come up through
the hooks, and a question asked through the router comes back from the stub expert. No sibling
distribution is loaded; a missing or ambiguous launcher is a one-line error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from largeforge import hookimpl
from largeforge.cli.main import main
from largeforge.forge import PlanError, load_pipeline, plan_pipeline
from largeforge.forge.launchers import EXPERTS, ROUTER, ExpertsLaunch, ForgeService, RouterLaunch, ServiceSpec
from largeforge.forge.services import ServiceError, ask, start_services
from largeforge.forge.stages import Plan
from tests.helpers import free_port

STUB = Path(__file__).with_name("stub_service.py")


def stub_experts(request: ExpertsLaunch) -> list[ServiceSpec]:
    """One stub server per expert, each on a free port."""
    services = []
    for expert in request.experts:
        port = free_port()
        argv = [sys.executable, str(STUB), "expert", expert.name, str(port)]
        services.append(ServiceSpec(expert.name, argv, f"http://{request.serve.host}:{port}"))
    return services


def stub_router(request: RouterLaunch) -> list[ServiceSpec]:
    """A stub router on ``router.port``, routing by the experts' keywords to their endpoints."""
    experts = [
        {"name": e.name, "keywords": list(e.keywords), "endpoints": request.endpoints[e.name]} for e in request.experts
    ]
    config = request.folder / "stub-router.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"port": request.port, "experts": experts}))
    return [ServiceSpec("router", [sys.executable, str(STUB), "router", str(config)], request.url)]


class StubModels:
    """What planning a pipeline needs besides the launchers: a trainer, a backend, a classifier."""

    @hookimpl
    def register_trainers(self, register: Any) -> None:
        register("sft", lambda *args, **kwargs: None)

    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("transformers", type("StubEngine", (), {}))

    @hookimpl
    def register_classifiers(self, register: Any) -> None:
        register("keyword", lambda *args, **kwargs: None)


class StubTeam:
    @hookimpl
    def register_forge_services(self, register: Any) -> None:
        register(ForgeService("stub-experts", EXPERTS, stub_experts))
        register(ForgeService("stub-router", ROUTER, stub_router))


def stub_plan(tmp_path: Path, **sections: dict[str, Any]) -> Plan:
    """Two experts, ``alpha`` and ``beta``, planned with the stub models registered."""
    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(4)]
    (tmp_path / "data.json").write_text(json.dumps(rows))
    pipeline = {
        "name": "stub",
        "workdir": "runs",
        "defaults": {"lora": None, "eval": {"enabled": False}},
        "experts": [
            {"name": name, "data": "data.json", "keywords": [name], "description": f"All about {name}."}
            for name in ("alpha", "beta")
        ],
        "serve": {"backend": "transformers", **sections.get("serve", {})},
        "router": {
            "port": free_port(),
            "classifier": {"classifier_type": "keyword", "fallback_expert": "alpha"},
            **sections.get("router", {}),
        },
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return plan_pipeline(load_pipeline(path))


def test_the_forge_starts_a_plugins_team_and_asks_it(pm: Any, tmp_path: Path) -> None:
    pm.register(StubModels(), name="stub-models")
    pm.register(StubTeam(), name="stub-team")
    plan = stub_plan(tmp_path)
    with start_services(plan, timeout=60) as services:
        assert [s.name for s in services.experts] == ["alpha", "beta"] and services.router is not None
        answer = ask(services.router.url, "Tell me about beta", timeout=30)
        assert (answer.expert, answer.text) == ("beta", "beta answers: Tell me about beta")
        assert ask(services.router.url, "and alpha?", timeout=30).expert == "alpha"
        processes = [s.process for s in services.all()]
    assert all(p.poll() is not None for p in processes)  # leaving the block stopped every one
    logs = plan.pipeline.workdir / "logs"
    assert "router listening on" in (logs / "router.log").read_text()
    assert "expert listening on" in (logs / "beta.log").read_text()


def test_without_a_launcher_it_says_what_to_install(
    pm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pm.register(StubModels(), name="stub-models")
    plan = stub_plan(tmp_path)
    with pytest.raises(PlanError, match=r'starting the experts needs .*pip install "largeforge-core\[serve\]"'):
        start_services(plan)
    # `forge --ask` says so before any stage runs (the stub trainer would fail if one did)
    assert main(["forge", str(plan.pipeline.path), "--ask", "hello"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "largeforge-core[serve]"' in err[0], err


class OtherExperts:
    @hookimpl
    def register_forge_services(self, register: Any) -> None:
        register(ForgeService("other-experts", EXPERTS, lambda request: []))


def test_the_pipeline_picks_among_several_launchers(pm: Any, tmp_path: Path) -> None:
    pm.register(StubModels(), name="stub-models")
    pm.register(StubTeam(), name="stub-team")
    pm.register(OtherExperts(), name="other")
    with pytest.raises(
        PlanError, match=r"several plugins start the experts \(stub-experts, other-experts\).*serve.launcher"
    ):
        start_services(stub_plan(tmp_path))
    # the chosen launcher runs: this one serves nobody, which fails before anything starts
    with pytest.raises(ServiceError, match=r"'other-experts' serves no endpoint for alpha, beta"):
        start_services(stub_plan(tmp_path, serve={"launcher": "other-experts"}))
    with pytest.raises(PlanError, match=r"pipeline.yaml:\d+: no plugin named 'nope' starts the router"):
        start_services(stub_plan(tmp_path, serve={"launcher": "stub-experts"}, router={"launcher": "nope"}))
