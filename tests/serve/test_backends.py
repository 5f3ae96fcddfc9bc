"""Backend registration and selection (spec 4.4): transformers always; vLLM when an interpreter
with vLLM is found (``scripts/install_vllm.sh``'s environment), on a CPU too when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from largeforge.config import InferenceConfig
from largeforge.errors import ConfigError, RegistryError
from largeforge_serve import plugin
from largeforge_serve.engines import get_backend, is_vllm_available
from largeforge_serve.engines.transformers_engine import TransformersEngine
from largeforge_serve.engines.vllm_env import vllm_available


@pytest.fixture()
def serve_pm(pm: Any) -> Any:
    pm.register(plugin, name="serve")
    return pm


@pytest.fixture()
def no_vllm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine where no interpreter with vLLM can be found."""
    monkeypatch.setenv("LARGEFORGE_VLLM_PYTHON", str(tmp_path / "missing" / "python"))


def test_plugin_registers_transformers_and_vllm_only_when_found(serve_pm: Any, pm: Any, no_vllm: None) -> None:
    backends = serve_pm.registries.backends
    assert backends.get("transformers") is TransformersEngine
    with pytest.raises(RegistryError, match="transformers"):
        backends.get("vllm")
    assert not is_vllm_available()


@pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (bash scripts/install_vllm.sh)")
def test_plugin_registers_the_vllm_server_engine_when_installed(serve_pm: Any) -> None:
    from largeforge_serve.engines.vllm_server import VLLMServerEngine

    assert serve_pm.registries.backends.get("vllm") is VLLMServerEngine


def test_auto_picks_transformers_without_cuda_and_passes_options(serve_pm: Any, tmp_path: Path) -> None:
    engine = get_backend(
        InferenceConfig(model_path=str(tmp_path), backend="auto"), max_batch_size=3, adapters={"a": str(tmp_path)}
    )
    assert isinstance(engine, TransformersEngine)
    assert not engine.is_loaded
    assert (engine.max_batch_size, engine.adapter_names) == (3, ["a"])


def test_explicit_vllm_without_vllm_says_what_to_do(serve_pm: Any, no_vllm: None) -> None:
    with pytest.raises(ConfigError, match=r"needs vLLM, which was not found: .*scripts/install_vllm\.sh"):
        get_backend(InferenceConfig(model_path="m", backend="vllm"))
    with pytest.raises(ConfigError, match="model_path"):
        get_backend(InferenceConfig(backend="transformers"))
