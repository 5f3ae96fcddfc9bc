"""Entry point of the serve plugin: the inference backends, ``largeforge serve`` and the forge's
expert servers."""

from __future__ import annotations

from typing import Any

import typer

from largeforge import hookimpl


@hookimpl
def register_backends(register: Any) -> None:
    from largeforge_serve.engines.transformers_engine import TransformersEngine

    register("transformers", TransformersEngine)
    from largeforge_serve.engines.llamacpp import llamacpp_available

    if llamacpp_available():  # llama.cpp's llama-server (scripts/install_llamacpp.sh, or on PATH)
        from largeforge_serve.engines.llamacpp import LlamaCppEngine

        register("llamacpp", LlamaCppEngine)
    from largeforge_serve.engines.vllm_env import vllm_available

    if vllm_available():  # vLLM in its own environment (scripts/install_vllm.sh) or in this one
        from largeforge_serve.engines.vllm_server import VLLMServerEngine

        register("vllm", VLLMServerEngine)


@hookimpl
def register_forge_services(register: Any) -> None:
    from largeforge_serve.forge_service import SERVICE  # `forge --up` runs `serve inference` per expert

    register(SERVICE)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from largeforge.cli.main import get_group
    from largeforge_serve import cli

    try:  # another plugin (the router's `serve router`) may have created the group already
        group = get_group(app, "serve")
    except KeyError:
        group = typer.Typer(help="Serve models over an OpenAI-compatible HTTP API.", no_args_is_help=True)
        app.add_typer(group, name="serve")
    cli.register(group)
