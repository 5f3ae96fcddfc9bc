"""The ``llamacpp`` backend: llama.cpp's own ``llama-server`` behind LargeForge's gateway.

On a CPU llama.cpp is the engine to beat: quantized GGUF weights, hand-written SIMD kernels and
continuous batching across parallel slots. LargeForge runs its ``llama-server`` (built by
``scripts/install_llamacpp.sh``, or any ``llama-server`` on ``PATH``) as a child process and
forwards the OpenAI API to it, so tools, ``response_format`` (grammars), ``logprobs`` and
penalties work as llama.cpp implements them.

LoRA adapters (GGUF, from ``largeforge quant gguf --adapter``) are loaded once with the base
model, at scale 0; a request whose ``model`` names an adapter applies that one at scale 1
(llama.cpp's per-request ``lora`` field), so a team of adapter experts shares one base in memory.

A model that is not a GGUF file (a Hugging Face directory, an alias) and PEFT adapter directories
are converted once to GGUF (:mod:`largeforge_serve.engines.gguf_cache`); ``auto`` picks this
backend for them on a machine without a GPU where llama.cpp is installed.

Threads: unless ``--threads`` says otherwise, llama-server keeps its own default, one thread per
physical core, as ``llama-server -m FILE`` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.backends import CONVERTED, NATIVE
from largeforge.errors import ConfigError
from largeforge.utils.device import get_device_count
from largeforge.utils.llamacpp import find_binary, repack_args
from largeforge_serve.engines.gguf_cache import adapter_as_gguf, conversion_ready, model_as_gguf
from largeforge_serve.engines.gguf_files import GGUFInfo, check_adapter, is_gguf, read_gguf
from largeforge_serve.engines.upstream import UpstreamEngine

if TYPE_CHECKING:
    from largeforge.config import InferenceConfig

INSTALL_HINT = (
    "install it with `bash scripts/install_llamacpp.sh` (one llama.cpp build: llama-server, its tools "
    "and the Python bindings), put llama.cpp's llama-server on PATH, or set LARGEFORGE_LLAMA_SERVER"
)


#: How llama-server refuses an image, audio or video part when the model has no projector for it.
UNSUPPORTED_INPUT = b"input is not supported"


def find_llama_server() -> Path | None:
    """``LARGEFORGE_LLAMA_SERVER``, then the one install_llamacpp.sh built, then ``PATH``."""
    env = os.environ.get("LARGEFORGE_LLAMA_SERVER")
    if env:
        return Path(env) if Path(env).is_file() else None
    return find_binary("llama-server")


def llamacpp_available() -> bool:
    """Whether a ``llama-server`` can be found (the backend registers only then)."""
    return find_llama_server() is not None


def convertible(model: str) -> bool:
    """Whether ``model`` is something llama.cpp's converter takes: an alias or hub id, or a local
    directory with a ``config.json`` (a bare LoRA adapter has none) whose weights are not already
    quantized for another engine (GPTQ/AWQ compressed tensors)."""
    path = Path(model).expanduser()
    if not path.exists():
        return True  # an alias or hub id: resolved (and checked) when it is converted
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return "quantization_config" not in json.loads(config.read_text())
    except (OSError, ValueError):
        return False


class LlamaCppEngine(UpstreamEngine):
    """A GGUF model (and GGUF LoRA adapters) served by ``llama-server`` on loopback; a model or
    adapter that is not GGUF is converted once first."""

    backend_name: ClassVar[str] = "llamacpp"
    startup_timeout: ClassVar[float] = 300.0
    #: llama-server 0.3.36 drops the connection after a streamed answer (keep-alive announced):
    #: the next request sent on it failed with "Server disconnected".
    close_after_stream: ClassVar[bool] = True
    extra_args_env: ClassVar[str | None] = "LARGEFORGE_LLAMA_SERVER_ARGS"

    def __init__(self, model_path: str, config: InferenceConfig | None = None, **options: Any) -> None:
        super().__init__(model_path, config, **options)
        self.info: GGUFInfo | None = None
        #: Adapter name → llama-server's adapter id (the order of ``--lora``).
        self.adapter_ids = {name: i for i, name in enumerate(self.adapters)}

    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        """A GGUF file: first choice wherever llama-server is. Another model: on a machine without
        a GPU, where llama.cpp's converter is installed too (converted once, then served)."""
        if find_llama_server() is None:
            return None
        if is_gguf(Path(model).expanduser()):
            return NATIVE
        if conversion_ready() and convertible(model) and get_device_count() == 0:
            return CONVERTED
        return None

    def convert(self) -> None:
        """Convert the model and adapters that are not GGUF (once; cached by content)."""
        gguf_type = self.config.gguf_type
        base: str | None = None  # a GGUF --model: the base its adapter_config.json names
        if not Path(self.model_path).expanduser().is_file():  # a file is checked as GGUF below
            base = str(self.model_path)
            self.model_path = str(model_as_gguf(base, gguf_type))
        for name, path in self.adapters.items():
            if Path(path).expanduser().is_dir():
                self.adapters[name] = str(adapter_as_gguf(name, path, base, gguf_type))

    def check(self) -> None:
        """The binary exists, the model is GGUF (converted if need be), and every adapter is a LoRA for it."""
        if find_llama_server() is None:
            raise ConfigError(
                f"the llamacpp backend needs llama.cpp's llama-server, which was not found: {INSTALL_HINT}"
            )
        self.convert()
        self.info = read_gguf(self.model_path, what="--model")
        if self.info.kind != "model":
            raise ConfigError(
                f"--model {self.model_path} is a GGUF {self.info.kind}, not a model "
                f"(serve adapters with --adapter NAME=FILE.gguf on their base model)"
            )
        for name, path in self.adapters.items():
            check_adapter(self.info, read_gguf(path, what=f"--adapter {name}"), name)

    @property
    def max_model_len(self) -> int:
        trained = self.info.context_length if self.info else None
        wanted = int(self.config.max_model_len)
        return min(wanted, trained) if trained else wanted

    def command(self, host: str, port: int) -> list[str]:
        binary = find_llama_server()
        assert binary is not None  # check() ran
        slots = max(1, self.max_batch_size)
        args = [
            str(binary),
            "--model",
            str(self.model_path),
            "--host",
            host,
            "--port",
            str(port),
            "--alias",
            self.served_model_name,
            # One slot per concurrent request, each with the full context (llama.cpp divides -c).
            "--parallel",
            str(slots),
            "--ctx-size",
            str(self.max_model_len * slots),
            "--no-kv-unified",
            "--cont-batching",
            # Without --threads, llama-server's default: one thread per physical core.
            *(["--threads", str(self.threads), "--threads-batch", str(self.threads)] if self.threads else []),
            "--jinja",
            "--metrics",
            "--no-webui",
            *repack_args(),
        ]
        for path in self.adapters.values():
            args += ["--lora", str(path)]
        if self.adapters:
            args.append("--lora-init-without-apply")
        return [*args, *self.extra_args]

    def environment(self) -> dict[str, str]:
        return {"LLAMA_LOG_COLORS": "0"}

    #: llama-server answers 500 to these request errors (malformed tools, schemas, grammars…, an
    #: image or audio part for a model without its multimodal projector).
    REQUEST_ERRORS: ClassVar[tuple[bytes, ...]] = (
        b"Failed to parse",
        b"failed to parse",
        b"Invalid ",
        b"JSON schema",
        b"grammar",
        UNSUPPORTED_INPUT,
    )

    def refused_request(self, status: int, content: bytes) -> bool:
        return status == 500 and any(marker in content for marker in self.REQUEST_ERRORS)

    def error_code(self, status: int, error: Mapping[str, Any], *, chat: bool) -> tuple[str | None, str | None] | None:
        # A prompt longer than a slot's context: the transformers engine's code and param for it.
        if error.get("type") == "exceed_context_size_error":
            return "context_length_exceeded", "messages" if chat else "prompt"
        if UNSUPPORTED_INPUT.decode() in str(error.get("message")):  # as the transformers engine refuses images
            return "unsupported_parameter", "messages"
        return None

    def upstream_body(self, body: dict[str, Any], adapter: str | None) -> dict[str, Any]:
        body["model"] = self.served_model_name
        # Every adapter's scale, explicitly: the named one at 1, the others at 0. (An empty list
        # would leave llama-server on its start-up scales, which are 1 for each --lora.)
        body["lora"] = [{"id": i, "scale": 1.0 if name == adapter else 0.0} for name, i in self.adapter_ids.items()]
        return body
