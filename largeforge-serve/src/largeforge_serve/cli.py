"""``largeforge serve inference``: start the OpenAI-compatible inference server (spec 7.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from largeforge.errors import ConfigError


def parse_adapters(values: list[str]) -> dict[str, str]:
    """``NAME=PATH`` options → ``{name: path}``; a malformed or duplicate one is a ConfigError."""
    adapters: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ConfigError(f"--adapter {value!r}: expected NAME=PATH")
        if name in adapters:
            raise ConfigError(f"--adapter {name!r} given twice")
        if not Path(path).exists():
            raise ConfigError(f"--adapter {name}: {path} does not exist")
        adapters[name] = path
    return adapters


def default_served_name(model: str) -> str:
    """The name a model is served under unless ``--served-model-name`` says otherwise: its own
    name, never a path (a directory's name, a GGUF file's name without ``.gguf``); a hub id or
    an embedded alias as given."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve().name
    if path.is_file():
        return path.stem if path.suffix.lower() == ".gguf" else path.name
    return model


def register(group: typer.Typer) -> None:
    """Add ``inference`` to the ``serve`` command group."""

    @group.command()
    def inference(
        model: str = typer.Option(..., "--model", "-m", help="Model directory, hub id or embedded alias."),
        port: int = typer.Option(8000, help="Port (0 picks a free one)."),
        host: str = typer.Option(
            "127.0.0.1", help="Address to listen on (loopback by default; 0.0.0.0 listens on every interface)."
        ),
        backend: str = typer.Option(
            "auto",
            help="auto, transformers, llamacpp or vllm. auto: llamacpp for a .gguf file, and on a CPU machine "
            "with llama.cpp installed for any model (converted once to GGUF); vllm on a GPU machine with vLLM; "
            "else transformers.",
        ),
        gguf_type: str = typer.Option(
            None, "--gguf-type", help="llamacpp: the GGUF type a model that is not GGUF is converted to (default f16)."
        ),
        max_model_len: int = typer.Option(None, "--max-model-len", help="Max context length in tokens."),
        gpu_memory: float = typer.Option(None, "--gpu-memory", help="GPU memory utilization (vLLM)."),
        tensor_parallel: int = typer.Option(None, "--tensor-parallel", help="Tensor parallel size (vLLM)."),
        pipeline_parallel: int = typer.Option(None, "--pipeline-parallel", help="Pipeline parallel size (vLLM)."),
        quantization: str = typer.Option(None, help="awq or gptq (vLLM)."),
        config: Path = typer.Option(None, "--config", help="InferenceConfig file (YAML/TOML/JSON)."),
        served_model_name: str = typer.Option(
            None,
            "--served-model-name",
            help="Name clients use in `model` (default: the model's own name: "
            "a directory's or GGUF file's name, or the hub id / alias as given).",
        ),
        adapter: list[str] = typer.Option(
            [], "--adapter", help="LoRA adapter NAME=PATH, served as model NAME (repeatable)."
        ),
        api_key: str = typer.Option(
            None,
            "--api-key",
            envvar="LARGEFORGE_API_KEY",
            show_envvar=True,
            help="Require 'Authorization: Bearer KEY' on /v1 endpoints.",
        ),
        max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="Requests generated at once."),
        max_queue: int = typer.Option(64, "--max-queue", min=0, help="Requests waiting beyond that (then 503)."),
        threads: int = typer.Option(
            None,
            "--threads",
            min=1,
            help="CPU threads of the engine (default: llama.cpp's and torch's own, one per physical core; "
            "fewer help on a host that is busy with other work).",
        ),
        max_body_size: int = typer.Option(1_000_000, "--max-body-size", min=1024, help="Max request body bytes."),
        cors_origin: list[str] = typer.Option(["*"], "--cors-origin", help="Allowed CORS origin (repeatable)."),
        drain_timeout: float = typer.Option(10.0, "--drain-timeout", help="Seconds in-flight requests get on stop."),
        log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    ) -> None:
        """Start an OpenAI-compatible inference server (Ctrl+C stops it)."""
        from largeforge.cli.output import print_info, print_success
        from largeforge.config import InferenceConfig
        from largeforge_serve.engines import get_backend
        from largeforge_serve.server.app import ServerSettings
        from largeforge_serve.server.runner import InferenceServer

        base = InferenceConfig.from_file(config) if config else InferenceConfig()
        cfg = base.merged(
            model_path=model,
            host=host,
            port=port or None,
            backend=backend,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory,
            tensor_parallel_size=tensor_parallel,
            pipeline_parallel_size=pipeline_parallel,
            quantization=quantization,
            gguf_type=gguf_type,
        )
        if cfg.backend in ("auto", "transformers") and not Path(str(cfg.model_path)).is_file():
            from largeforge.models import check_model

            check_model(str(cfg.model_path))  # a missing model fails now, not after loading the stack
        engine: Any = get_backend(
            cfg, adapters=parse_adapters(adapter), max_batch_size=max_concurrency, max_queue=max_queue, threads=threads
        )
        name = served_model_name or default_served_name(model)
        if hasattr(engine, "served_name"):
            engine.served_name = name  # its own server (vLLM) answers under that name
        print_info(f"loading {model} ({engine.backend_name} backend)…")
        engine.load()
        settings = ServerSettings(
            model_name=name,
            backend=engine.backend_name,
            api_keys=(api_key,) if api_key else (),
            cors_origins=tuple(cors_origin),
            max_body_size=max_body_size,
            drain_timeout=drain_timeout,
        )
        server = InferenceServer(engine, settings, host=host, port=port, log_level=log_level)
        names = ", ".join([settings.model_name, *engine.adapter_names])
        try:
            server.start(
                on_ready=lambda url: print_success(
                    f"serving {names} at {url}" + (" (API key required)" if api_key else "")
                )
            )
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled after shutting down
            pass
        finally:
            engine.unload()
        print_info("server stopped")
