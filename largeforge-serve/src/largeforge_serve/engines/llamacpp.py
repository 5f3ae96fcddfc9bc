"""The ``llamacpp`` backend: llama.cpp's own ``llama-server`` behind LargeForge's gateway.

On a CPU llama.cpp is the engine to beat: quantized GGUF weights, hand-written SIMD kernels and
continuous batching across parallel slots. LargeForge runs its ``llama-server`` (built by
``scripts/install_llamacpp.sh`` from the llama.cpp tree vendored in llama-cpp-python, or any
``llama-server`` on ``PATH``) as a child process and forwards the OpenAI API to it, so tools,
``response_format`` (grammars), ``logprobs`` and penalties work as llama.cpp implements them.

LoRA adapters (GGUF, from ``largeforge quant gguf --adapter``) are loaded once with the base
model, at scale 0; a request whose ``model`` names an adapter applies that one at scale 1
(llama.cpp's per-request ``lora`` field), so a team of adapter experts shares one base in memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.errors import ConfigError
from largeforge.models.paths import llama_cpp_home
from largeforge.utils.llamacpp import repack_args
from largeforge_serve.engines.gguf_files import GGUFInfo, check_adapter, read_gguf
from largeforge_serve.engines.upstream import UpstreamEngine

if TYPE_CHECKING:
    from largeforge.config import InferenceConfig

INSTALL_HINT = (
    "install it with `pip install 'largeforge-serve[llamacpp]'` and "
    "`bash scripts/install_llamacpp.sh` (builds llama-server), put llama.cpp's llama-server on "
    "PATH, or set LARGEFORGE_LLAMA_SERVER"
)


#: How llama-server refuses an image, audio or video part when the model has no projector for it.
UNSUPPORTED_INPUT = b"input is not supported"


def find_llama_server() -> Path | None:
    """``LARGEFORGE_LLAMA_SERVER``, then the one install_llamacpp.sh built, then ``PATH``."""
    env = os.environ.get("LARGEFORGE_LLAMA_SERVER")
    if env:
        return Path(env) if Path(env).is_file() else None
    for candidate in (llama_cpp_home() / "bin" / "llama-server", llama_cpp_home() / "build" / "bin" / "llama-server"):
        if candidate.is_file():
            return candidate
    found = shutil.which("llama-server")
    return Path(found) if found else None


def llamacpp_available() -> bool:
    """Whether a ``llama-server`` can be found (the backend registers only then)."""
    return find_llama_server() is not None


class LlamaCppEngine(UpstreamEngine):
    """A GGUF model (and GGUF LoRA adapters) served by ``llama-server`` on loopback."""

    backend_name: ClassVar[str] = "llamacpp"
    startup_timeout: ClassVar[float] = 300.0
    #: llama-server 0.3.36 drops the connection after a streamed answer (keep-alive announced):
    #: the next request sent on it failed with "Server disconnected".
    close_after_stream: ClassVar[bool] = True

    def __init__(
        self,
        model_path: str,
        config: InferenceConfig | None = None,
        *,
        adapters: Mapping[str, str] | None = None,
        max_batch_size: int = 8,
        max_queue: int = 64,
        threads: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            model_path, config, adapters=adapters, max_batch_size=max_batch_size, max_queue=max_queue, threads=threads
        )
        self.extra_args = tuple(extra_args) or tuple(os.environ.get("LARGEFORGE_LLAMA_SERVER_ARGS", "").split())
        self.info: GGUFInfo | None = None
        #: Adapter name → llama-server's adapter id (the order of ``--lora``).
        self.adapter_ids = {name: i for i, name in enumerate(self.adapters)}

    def check(self) -> None:
        """The binary exists, the model is GGUF, and every adapter is a LoRA for it."""
        if find_llama_server() is None:
            raise ConfigError(
                f"the llamacpp backend needs llama.cpp's llama-server, which was not found: {INSTALL_HINT}"
            )
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
        threads = self.threads or max(1, (os.cpu_count() or 2) // 2)
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
            "--threads",
            str(threads),
            "--threads-batch",
            str(threads),
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
