"""Backend registration and selection (spec 4.4), and the vLLM adapter's settings mapping (vLLM
itself needs CUDA and is not installed here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from largeforge.config import InferenceConfig
from largeforge.errors import ConfigError, RegistryError
from largeforge_serve import plugin
from largeforge_serve.engines import get_backend, is_vllm_available, vllm_importable
from largeforge_serve.engines.base import SamplingParams
from largeforge_serve.engines.transformers_engine import TransformersEngine
from largeforge_serve.engines.vllm_engine import VLLMEngine, sampling_kwargs

pytestmark = pytest.mark.skipif(vllm_importable(), reason="checks the machine without vLLM")


@pytest.fixture()
def serve_pm(pm: Any) -> Any:
    pm.register(plugin, name="serve")
    return pm


def test_plugin_registers_transformers_and_not_an_unusable_vllm(serve_pm: Any) -> None:
    backends = serve_pm.registries.backends
    assert backends.get("transformers") is TransformersEngine
    with pytest.raises(RegistryError, match="transformers"):
        backends.get("vllm")
    assert not is_vllm_available()


def test_auto_picks_transformers_here_and_passes_options(serve_pm: Any, tmp_path: Path) -> None:
    engine = get_backend(InferenceConfig(model_path=str(tmp_path), backend="auto"), max_batch_size=3,
                         adapters={"a": str(tmp_path)})
    assert isinstance(engine, TransformersEngine)
    assert not engine.is_loaded
    assert (engine.max_batch_size, engine.adapter_names) == (3, ["a"])


def test_explicit_vllm_without_vllm_says_what_to_do(serve_pm: Any) -> None:
    with pytest.raises(ConfigError, match=r"largeforge-serve\[vllm\]"):
        get_backend(InferenceConfig(model_path="m", backend="vllm"))
    with pytest.raises(ConfigError, match="model_path"):
        get_backend(InferenceConfig(backend="transformers"))


def test_vllm_adapter_maps_settings() -> None:
    params = SamplingParams(max_tokens=12, temperature=0.2, top_p=0.8, top_k=0, stop=("###",), seed=5)
    assert sampling_kwargs(params) == {"max_tokens": 12, "temperature": 0.2, "top_p": 0.8, "top_k": -1,
                                       "repetition_penalty": 1.0, "stop": ["###"], "seed": 5}
    config = InferenceConfig(model_path="m", gpu_memory_utilization=0.5, tensor_parallel_size=2,
                             max_model_len=2048, quantization="awq")
    engine = VLLMEngine("m", config, adapters={"law": "/adapters/law"}, max_batch_size=32)
    assert engine.engine_args() == {
        "model": "m", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "max_model_len": 2048,
        "max_num_seqs": 32, "quantization": "awq", "enable_lora": True, "max_loras": 1,
    }
    assert not engine.is_loaded
    assert engine.adapter_names == ["law"]
