"""The ``vllm`` backend: vLLM's own OpenAI server behind LargeForge's gateway.

vLLM is the engine for scale: paged attention, continuous batching, tensor and pipeline
parallelism, many LoRA adapters at once. LargeForge starts ``python -m
vllm.entrypoints.openai.api_server`` with the interpreter that has vLLM
(:func:`~largeforge_serve.engines.vllm_env.find_vllm_python`) and forwards the OpenAI API to
it, so ``n``, ``logprobs``, ``tools``, ``response_format`` and vLLM's metrics reach clients as
vLLM implements them.

LargeForge's options map onto vLLM's: ``--adapter NAME=PATH`` → ``--enable-lora --lora-modules
NAME=PATH`` (``--max-loras`` / ``--max-lora-rank`` from the adapters), ``--max-model-len``,
``--tensor-parallel`` / ``--pipeline-parallel``, ``--max-concurrency`` → ``--max-num-seqs``. On a
CPU the weights stay float32 (vLLM would otherwise cast them to bfloat16) and the KV cache gets
``VLLM_CPU_KVCACHE_SPACE`` GiB, sized from the model unless that variable is set.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.backends import GPU
from largeforge.errors import ConfigError
from largeforge.utils.device import get_device_count
from largeforge_serve.engines.upstream import UpstreamEngine
from largeforge_serve.engines.vllm_env import (
    INSTALL_HINT,
    W4_KERNEL,
    cpu_kernel_library,
    find_vllm_python,
    library_has,
    this_cpu_features,
    vllm_available,
    vllm_package_dir,
)
from largeforge_serve.engines.vllm_lora import lora_rank, read_json, vllm_rank, write_zero_adapter

if TYPE_CHECKING:
    from largeforge.config import InferenceConfig


def weight_bits(quantization: Mapping[str, Any]) -> int | None:
    """Bits of the quantized weights in a ``quantization_config`` (None when it does not say)."""
    if "bits" in quantization:
        return int(quantization["bits"])
    for group in (quantization.get("config_groups") or {}).values():
        weights = (group or {}).get("weights") or {}
        if "num_bits" in weights:
            return int(weights["num_bits"])
    return None


class VLLMServerEngine(UpstreamEngine):
    """A Hugging Face model directory (and PEFT LoRA adapters) served by vLLM's OpenAI server."""

    backend_name: ClassVar[str] = "vllm"
    #: Start-up is minutes on a CPU (weights, KV-cache profiling, torch.compile); pipeline parallel longer.
    startup_timeout: ClassVar[float] = 1500.0
    ready_path: ClassVar[str] = "/health"
    extra_args_env: ClassVar[str | None] = "LARGEFORGE_VLLM_ARGS"

    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        """``auto`` picks vLLM on a machine with a GPU (on a CPU it runs only when asked for)."""
        return GPU if vllm_available() and get_device_count() > 0 else None

    def __init__(self, model_path: str, config: InferenceConfig | None = None, **options: Any) -> None:
        super().__init__(model_path, config, **options)
        self.model_dir: Path | None = None
        self.model_config: dict[str, Any] = {}
        self.adapter_ranks: dict[str, int] = {}
        self.python: str | None = None
        #: The name vLLM serves the base model under: the one clients use (``serve inference`` sets
        #: it to ``--served-model-name`` or the model's own name), so vLLM's answers carry it.
        self.served_name = model_path
        #: On a CPU with adapters: the zero adapter the base model is served through (vllm_lora).
        self.base_adapter: Path | None = None

    # -- checks, all before the (minutes long) start ---------------------------------------------

    def check(self) -> None:
        """vLLM is found, the model is a model directory vLLM can run here, the adapters are LoRA."""
        from largeforge.models import resolve_model
        from largeforge.utils.device import get_device_count

        self.python = find_vllm_python()
        if self.python is None:
            raise ConfigError(f"the vllm backend needs vLLM, which was not found: {INSTALL_HINT}")
        path = Path(self.model_path)
        if path.is_file():
            raise ConfigError(
                f"--model {self.model_path}: vLLM serves a Hugging Face model directory; "
                "for a GGUF file use --backend llamacpp"
            )
        self.model_dir = resolve_model(self.model_path)
        if (self.model_dir / "adapter_config.json").is_file() and not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"--model {self.model_path} is a LoRA adapter; serve it on its base model with "
                f"--model BASE --adapter NAME={self.model_path}"
            )
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(f"--model {self.model_path}: {self.model_dir} has no config.json (not a model directory)")
        self.model_config = read_json(self.model_dir / "config.json", f"--model {self.model_path}")
        self.adapter_ranks = {name: lora_rank(Path(p), name) for name, p in self.adapters.items()}
        self._check_parallel()
        gpu = get_device_count() > 0
        self._check_quantization(gpu=gpu)
        if self.adapters and not gpu and self.base_adapter is None:
            first = Path(next(iter(self.adapters.values())))
            self.base_adapter = write_zero_adapter(first, Path(tempfile.mkdtemp(prefix="largeforge-vllm-")) / "base")

    def _check_parallel(self) -> None:
        tp = self.config.tensor_parallel_size
        heads = self.model_config.get("num_attention_heads")
        if tp > 1 and isinstance(heads, int) and heads % tp:
            raise ConfigError(
                f"--tensor-parallel {tp}: the model's {heads} attention heads do not divide "
                f"by {tp} (vLLM splits heads across ranks); use a size that divides {heads}"
            )

    def _check_quantization(self, *, gpu: bool) -> None:
        quantization = self.model_config.get("quantization_config")
        if not isinstance(quantization, dict):
            if self.config.quantization:
                raise ConfigError(
                    f"--quantization {self.config.quantization}: {self.model_path} is not a "
                    "quantized checkpoint (no quantization_config in config.json)"
                )
            return
        if gpu or weight_bits(quantization) != 4:
            return
        assert self.python is not None
        package = vllm_package_dir(self.python)
        library = cpu_kernel_library(package, avx512=False, avx512_bf16=False) if package else None
        if package is None or library is None:
            return  # not vLLM's CPU build: nothing known to refuse
        avx512, bf16 = this_cpu_features()
        library = cpu_kernel_library(package, avx512=avx512, avx512_bf16=bf16)
        assert library is not None
        if not library_has(library, W4_KERNEL):
            method = quantization.get("quant_method", "quantized")
            raise ConfigError(
                f"--model {self.model_path}: vLLM cannot run 4-bit ({method}) weights on this CPU: its "
                f"kernel library for it ({library.name}, no AVX-512) has no {W4_KERNEL.decode()} "
                "operator; serve it with --backend transformers, or on an AVX-512 CPU or a GPU"
            )

    # -- the server ------------------------------------------------------------------------------

    @property
    def served_model_name(self) -> str:
        return self.served_name

    @property
    def on_gpu(self) -> bool:
        from largeforge.utils.device import get_device_count

        return get_device_count() > 0

    @property
    def max_model_len(self) -> int:
        trained = self.model_config.get("max_position_embeddings")
        wanted = int(self.config.max_model_len)
        return min(wanted, int(trained)) if isinstance(trained, int) and trained > 0 else wanted

    def kv_cache_gib(self) -> int:
        """GiB of KV cache for ``max_batch_size`` full contexts in float32 (at least 1)."""
        cfg = self.model_config
        heads = int(cfg.get("num_attention_heads") or 1)
        head_dim = int(cfg.get("head_dim") or int(cfg.get("hidden_size") or 64) // heads)
        kv_heads = int(cfg.get("num_key_value_heads") or heads)
        per_token = 2 * int(cfg.get("num_hidden_layers") or 1) * kv_heads * head_dim * 4
        return max(1, math.ceil(per_token * self.max_model_len * max(1, self.max_batch_size) / 2**30))

    def command(self, host: str, port: int) -> list[str]:
        assert self.python is not None and self.model_dir is not None  # check() ran
        cfg = self.config
        # With the zero adapter, the name clients use for the base model is that adapter's.
        base_name = self.served_name + "@no-adapter" if self.base_adapter else self.served_name
        args = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--host",
            host,
            "--port",
            str(port),
            "--served-model-name",
            base_name,
            "--max-model-len",
            str(self.max_model_len),
            "--max-num-seqs",
            str(max(1, self.max_batch_size)),
            "--tensor-parallel-size",
            str(cfg.tensor_parallel_size),
            "--pipeline-parallel-size",
            str(cfg.pipeline_parallel_size),
            "--disable-uvicorn-access-log",
        ]
        if self.on_gpu:
            args += ["--gpu-memory-utilization", str(cfg.gpu_memory_utilization)]
        elif "quantization_config" not in self.model_config:
            args += ["--dtype", "float32"]  # vLLM's "auto" casts float32 weights to bfloat16 on CPU
        if self.adapters:
            modules = {**({self.served_name: str(self.base_adapter)} if self.base_adapter else {}), **self.adapters}
            args += [
                "--enable-lora",
                "--max-loras",
                str(len(modules)),
                "--max-lora-rank",
                str(vllm_rank(max(self.adapter_ranks.values()))),
                "--lora-modules",
                *(f"{name}={path}" for name, path in modules.items()),
            ]
        return [*args, *self.extra_args]

    def unload(self) -> None:
        """Stop vLLM (its whole process group) and remove the zero adapter."""
        super().unload()
        if self.base_adapter is not None:
            shutil.rmtree(self.base_adapter.parent, ignore_errors=True)
            self.base_adapter = None

    def error_code(self, status: int, error: Mapping[str, Any], *, chat: bool) -> tuple[str | None, str | None] | None:
        # vLLM names the context checks' parameters its own way: the transformers engine's code and
        # param for them.
        param = error.get("param")
        if param in ("input_tokens", "input_text"):  # the prompt alone is longer than the context
            return "context_length_exceeded", "messages" if chat else "prompt"
        if param in ("max_tokens", "max_completion_tokens") and "cannot be greater than" in str(error.get("message")):
            return "context_length_exceeded", str(param)
        return None

    def environment(self) -> dict[str, str]:
        env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        if not self.on_gpu:
            env["VLLM_CPU_KVCACHE_SPACE"] = os.environ.get("VLLM_CPU_KVCACHE_SPACE") or str(self.kv_cache_gib())
            if self.threads and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
                env.update(VLLM_CPU_OMP_THREADS_BIND="nobind", OMP_NUM_THREADS=str(self.threads))
        return env
