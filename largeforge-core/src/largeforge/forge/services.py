"""``largeforge forge --up``: start the team's expert servers and its router, and ask them questions.

What runs is said by the plugins registered through ``register_forge_services``
(:mod:`largeforge.forge.launchers`): the launcher of role ``experts`` (largeforge-serve's runs
``serve inference``) and the one of role ``router`` (largeforge-router's writes the router's config
and runs ``router serve``); the core names no sibling's command. This module owns the processes:
each logs into ``<workdir>/logs/<name>.log``, is ready when ``GET <url>/health`` answers 200, and
all stop together. The launcher of a role is the one ``serve.launcher`` / ``router.launcher``
names, else the only one installed; none installed is a one-line error saying what to install.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from largeforge.errors import LargeForgeError
from largeforge.forge.checks import PROVIDERS, PlanError
from largeforge.forge.launchers import (
    EXPERTS,
    ROUTER,
    ExpertsLaunch,
    ForgeService,
    Role,
    RouterLaunch,
    ServedExpert,
    ServiceSpec,
)
from largeforge.forge.router_data import ROUTER_FEEDBACK, router_training_rows
from largeforge.forge.stages import Plan
from largeforge.plugins import registries

#: The distribution that provides each role's built-in launcher (the one of the backends and of
#: the classifiers), for "install X" messages.
ROLE_PROVIDERS = {EXPERTS: PROVIDERS["backends"], ROUTER: PROVIDERS["classifiers"]}


class ServiceError(LargeForgeError):
    """A server did not start or stopped unexpectedly."""


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Services:
    """Running experts and router; stop() (or leaving the ``with`` block) ends them all."""

    experts: list[Service] = field(default_factory=list)
    router: Service | None = None

    def all(self) -> list[Service]:
        return [*self.experts, *([self.router] if self.router else [])]

    def stop(self) -> None:
        for service in self.all():
            if service.process.poll() is None:
                service.process.terminate()
        for service in self.all():
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start(spec: ServiceSpec, logs: Path) -> Service:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{spec.name}.log"
    with log.open("wb") as handle:  # the child keeps its own copy of the file
        process = subprocess.Popen(spec.argv, stdout=handle, stderr=subprocess.STDOUT)
    return Service(spec.name, spec.url, process, log)


def wait_healthy(service: Service, timeout: float) -> None:
    """Poll ``/health`` until it answers 200, failing fast if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise ServiceError(
                f"{service.name} exited with code {service.process.returncode}: "
                f"{service.log_tail()} (log: {service.log})"
            )
        try:
            with urllib.request.urlopen(f"{service.url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ServiceError(f"{service.name} did not become healthy within {timeout:.0f}s (log: {service.log})")


def launcher(plan: Plan, role: Role) -> ForgeService:
    """The launcher registered for ``role``: the one the pipeline names (``serve.launcher`` for
    the experts, ``router.launcher``), else the only one installed. Raises :class:`PlanError`."""
    section = "serve" if role == EXPERTS else "router"
    choice = plan.pipeline.spec.serve.launcher if role == EXPERTS else plan.pipeline.spec.router.launcher
    where = plan.pipeline.where(section, "launcher") if choice else plan.pipeline.where(section)
    found = {e.name: e.value for e in registries().forge_services.entries() if e.value.role == role}
    names = ", ".join(found) or "none"
    if choice is not None:
        if choice not in found:
            raise PlanError(f"{where}: no plugin named {choice!r} starts the {role} (registered: {names})")
        return found[choice]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        dist, extra = ROLE_PROVIDERS[role]
        raise PlanError(
            f"{where}: starting the {role} needs the {dist} distribution (or another plugin with a "
            f'{role!r} forge service), which is not installed: pip install "largeforge-core[{extra}]"'
        )
    raise PlanError(f"{where}: several plugins start the {role} ({names}): pick one with {section}.launcher")


def launchers(plan: Plan) -> tuple[ForgeService, ForgeService]:
    """The launchers of the experts and of the router (see :func:`launcher`)."""
    return launcher(plan, EXPERTS), launcher(plan, ROUTER)


def served_experts(plan: Plan) -> list[ServedExpert]:
    """The team as the launchers see it: each expert's name, served model and router knowledge."""
    return [
        ServedExpert(e.spec.name, e.artifact, e.is_adapter, e.spec.description, tuple(e.spec.keywords))
        for e in plan.experts
    ]


def experts_request(plan: Plan) -> ExpertsLaunch:
    """What the ``experts`` launcher is asked to serve."""
    spec = plan.pipeline.spec
    return ExpertsLaunch(served_experts(plan), spec.base_model, spec.serve, plan.serve_backend)


def router_request(plan: Plan, endpoints: dict[str, list[str]]) -> RouterLaunch:
    """What the ``router`` launcher is asked to put in front of ``endpoints``."""
    spec = plan.pipeline.spec
    return RouterLaunch(
        experts=served_experts(plan),
        endpoints=endpoints,
        classifier=spec.router.classifier,
        training_rows=router_training_rows(plan),
        host=spec.serve.host,
        port=spec.router.port,
        folder=plan.pipeline.workdir,
        feedback=ROUTER_FEEDBACK,
    )


def endpoints_of(plan: Plan, specs: list[ServiceSpec], launcher_name: str) -> dict[str, list[str]]:
    """Expert name → the URLs of the services that answer for it; every expert needs one."""
    endpoints: dict[str, list[str]] = {}
    for spec in specs:
        for name in spec.experts:
            endpoints.setdefault(name, []).append(spec.url)
    missing = [e.spec.name for e in plan.experts if e.spec.name not in endpoints]
    if missing:
        raise ServiceError(f"the experts launcher {launcher_name!r} serves no endpoint for {', '.join(missing)}")
    return endpoints


def start_services(plan: Plan, *, timeout: float = 600) -> Services:
    """Start the expert servers, then the router in front, each as its launcher says."""
    experts, router = launchers(plan)
    logs = plan.pipeline.workdir / "logs"
    services = Services()
    try:
        specs = experts.launch(experts_request(plan))
        endpoints = endpoints_of(plan, specs, experts.name)
        for spec in specs:  # each joins the team as it starts, so stop() ends it if a later one fails
            services.experts.append(_start(spec, logs))
        for service in services.experts:
            wait_healthy(service, timeout)
        routers = router.launch(router_request(plan, endpoints))
        if len(routers) != 1:
            raise ServiceError(f"the router launcher {router.name!r} gave {len(routers)} services, not one")
        services.router = _start(routers[0], logs)
        wait_healthy(services.router, timeout)
    except BaseException:
        services.stop()
        raise
    return services


@dataclass
class Answer:
    query: str
    expert: str
    confidence: str
    text: str


def ask(router_url: str, query: str, *, max_tokens: int = 64, timeout: float = 300) -> Answer:
    """Send one chat query through the router (``model: auto``) and say who answered."""
    body = json.dumps(
        {"model": "auto", "messages": [{"role": "user", "content": query}], "max_tokens": max_tokens, "temperature": 0}
    ).encode()
    request = urllib.request.Request(
        f"{router_url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
        expert = response.headers.get("x-largeforge-expert", "?")
        confidence = response.headers.get("x-largeforge-confidence", "")
    return Answer(query, expert, confidence, payload["choices"][0]["message"]["content"].strip())
