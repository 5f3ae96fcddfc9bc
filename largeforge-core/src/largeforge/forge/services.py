"""``largeforge forge --up``: start the expert servers and the router, and ask them questions.

Every service is a real ``largeforge serve inference`` / ``largeforge router serve`` process
on loopback (or the configured host), logging into ``<workdir>/logs/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from largeforge.errors import LargeForgeError
from largeforge.forge.plan import Plan
from largeforge.utils.io import atomic_write, load_jsonl, save_jsonl
from largeforge.utils.text import query_key

LARGEFORGE = [sys.executable, "-m", "largeforge.cli.main"]
#: Where the forge's router stores corrections (``POST /v1/router/feedback``), in the workdir.
ROUTER_FEEDBACK = "router-feedback.jsonl"


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


def _start(name: str, args: list[str], url: str, logs: Path) -> Service:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen([*LARGEFORGE, *args], stdout=handle, stderr=subprocess.STDOUT)
    return Service(name, url, process, log)


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


def router_training_rows(plan: Plan) -> list[dict[str, str]]:
    """The labelled queries (``{"query", "expert"}``) the router's classifier trains on: each
    expert's ``queries``, the prompts of its own training data (:mod:`largeforge.forge.router_data`)
    and the rows of ``router.training_data``, relabelled by the corrections the running router
    stored (``POST /v1/router/feedback`` into the workdir's ``router-feedback.jsonl``). The routing
    evaluation trains the same classifier on the same rows."""
    from largeforge.forge.router_data import router_rows

    rows = [{"query": q, "expert": e.spec.name} for e in plan.experts for q in e.spec.queries]
    rows += router_rows(plan.experts)
    if plan.pipeline.spec.router.training_data:
        rows += load_jsonl(plan.pipeline.resolve(plan.pipeline.spec.router.training_data))
    feedback = plan.pipeline.workdir / ROUTER_FEEDBACK
    if feedback.is_file():  # corrections sent to the running router relabel the queries they name
        corrections = {query_key(row["query"]): row for row in load_jsonl(feedback)}
        rows = [row for row in rows if query_key(row["query"]) not in corrections]
        rows += [{"query": row["query"], "expert": row["expert"]} for row in corrections.values()]
    return rows


def router_config(plan: Plan, endpoints: dict[str, str]) -> Path:
    """Write the router's YAML (experts, endpoints, classifier, training queries) into the workdir."""
    import yaml

    spec = plan.pipeline.spec
    workdir = plan.pipeline.workdir
    rows = router_training_rows(plan)
    classifier: dict[str, Any] = spec.router.classifier.to_dict()
    if rows:
        save_jsonl(rows, workdir / "router-train.jsonl")
        classifier["training_data"] = "router-train.jsonl"
    classifier["feedback_data"] = ROUTER_FEEDBACK
    config = {
        "experts": [
            {
                "name": e.spec.name,
                "description": e.spec.description,
                "keywords": e.spec.keywords,
                "endpoints": [endpoints[e.spec.name]],
            }
            for e in plan.experts
        ],
        "classifier": classifier,
        "server": {"host": spec.serve.host, "port": spec.router.port},
    }
    path = workdir / "router.yaml"
    atomic_write(path, yaml.safe_dump(config, sort_keys=False))
    return path


def served_model(artifact: Path) -> str:
    """What ``serve inference --model`` gets for a stage's output: its GGUF file when the last
    stage was ``quantize: {method: gguf}`` (the llamacpp backend serves it), else the directory."""
    gguf = artifact / "model.gguf"
    return str(gguf if gguf.is_file() else artifact)


def start_services(plan: Plan, *, timeout: float = 600) -> Services:
    """Start one server per expert (or one with every adapter), then the router in front."""
    spec = plan.pipeline.spec
    serve, host = spec.serve, spec.serve.host
    logs = plan.pipeline.workdir / "logs"
    services = Services()
    # llamacpp converts a model or adapter that is not GGUF once (serve.gguf_type), cached by content.
    common = ["--host", host, "--max-concurrency", str(serve.max_concurrency), "--gguf-type", serve.gguf_type]
    endpoints: dict[str, str] = {}
    try:
        if serve.mode == "adapters":
            url = f"http://{host}:{serve.base_port}"
            adapters = [arg for e in plan.experts for arg in ("--adapter", f"{e.spec.name}={e.artifact}")]
            services.experts.append(
                _start(
                    "experts",
                    [
                        "serve",
                        "inference",
                        "--model",
                        spec.base_model,
                        "--port",
                        str(serve.base_port),
                        "--backend",
                        plan.serve_backend,
                        *common,
                        *adapters,
                    ],
                    url,
                    logs,
                )
            )
            endpoints = {e.spec.name: url for e in plan.experts}
        else:
            for i, expert in enumerate(plan.experts):
                port = serve.base_port + i
                url = f"http://{host}:{port}"
                services.experts.append(
                    _start(
                        expert.spec.name,
                        [
                            "serve",
                            "inference",
                            "--model",
                            served_model(expert.artifact),
                            "--port",
                            str(port),
                            "--served-model-name",
                            expert.spec.name,
                            "--backend",
                            serve.backend,  # auto: each server for its own model
                            *common,
                        ],
                        url,
                        logs,
                    )
                )
                endpoints[expert.spec.name] = url
        for service in services.experts:
            wait_healthy(service, timeout)
        config = router_config(plan, endpoints)
        router_url = f"http://{host}:{spec.router.port}"
        services.router = _start("router", ["router", "serve", "--config", str(config)], router_url, logs)
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
