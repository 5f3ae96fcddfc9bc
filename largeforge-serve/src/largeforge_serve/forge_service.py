"""The forge's ``experts`` launcher: ``largeforge serve inference`` for a pipeline's team.

``serve.mode: per-expert`` runs one server per expert on consecutive ports from
``serve.base_port`` (each resolves ``serve.backend: auto`` for its own model); ``adapters`` runs
one server for the base model with every expert's LoRA adapter. The forge starts, watches and
stops them (:mod:`largeforge.forge.services`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from largeforge.forge.launchers import EXPERTS, ExpertsLaunch, ForgeService, ServiceSpec
from largeforge.utils.process import largeforge_command

if TYPE_CHECKING:
    from largeforge.forge.spec import ServeSpec


def served_model(model: Path) -> str:
    """What ``--model`` gets for an expert's output: its GGUF file when the last stage was
    ``quantize: {method: gguf}`` (the llamacpp backend serves it), else the folder."""
    gguf = model / "model.gguf"
    return str(gguf if gguf.is_file() else model)


def _inference(serve: ServeSpec, model: str, port: int, backend: str, *extra: str) -> list[str]:
    """``serve inference`` of ``model`` on ``port`` with the pipeline's serve settings."""
    # llamacpp converts a model or adapter that is not GGUF once (serve.gguf_type), cached by content.
    settings = ["--host", serve.host, "--max-concurrency", str(serve.max_concurrency), "--gguf-type", serve.gguf_type]
    return largeforge_command(
        "serve", "inference", "--model", model, "--port", str(port), "--backend", backend, *settings, *extra
    )


def expert_services(request: ExpertsLaunch) -> list[ServiceSpec]:
    """The ``serve inference`` servers of ``request``'s team."""
    serve = request.serve
    if serve.mode == "adapters":
        adapters = [arg for e in request.experts for arg in ("--adapter", f"{e.name}={e.model}")]
        argv = _inference(serve, request.base_model, serve.base_port, request.resolved_backend, *adapters)
        served = tuple(e.name for e in request.experts)
        return [ServiceSpec("experts", argv, f"http://{serve.host}:{serve.base_port}", serves=served)]
    return [  # serve.backend as written: `auto` is resolved by each server for its own model
        ServiceSpec(
            e.name,
            _inference(serve, served_model(e.model), port, serve.backend, "--served-model-name", e.name),
            f"http://{serve.host}:{port}",
        )
        for port, e in enumerate(request.experts, start=serve.base_port)
    ]


SERVICE = ForgeService("serve", EXPERTS, expert_services)
