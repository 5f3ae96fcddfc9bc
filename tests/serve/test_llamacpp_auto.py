"""``--backend auto`` without llama.cpp (its lookup pointed at an empty folder) or without the GGUF
converter (largeforge-quant) serves with transformers; with both it picks llama.cpp
(tests/e2e/test_llamacpp_auto_convert.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from largeforge.backends import auto_backend, auto_ranks
from largeforge.config import InferenceConfig
from largeforge.plugins import set_plugin_manager
from largeforge_serve import plugin
from largeforge_serve.engines import select_backend_name
from largeforge_serve.engines.llamacpp import llamacpp_available
from largeforge_serve.launch import ServerProcess
from tests.serve.serve_testing import complete, reference

needs_llamacpp = pytest.mark.skipif(
    not llamacpp_available() or os.environ.get("LARGEFORGE_SKIP_LLAMACPP") == "1",
    reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)",
)


@pytest.fixture()
def no_llamacpp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A machine without llama.cpp: its lookup points at an empty folder, nothing on PATH."""
    empty = tmp_path / "no-llama.cpp"
    empty.mkdir()
    env = {"LARGEFORGE_LLAMA_CPP_DIR": str(empty), "PATH": f"{empty}:/usr/bin:/bin"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LARGEFORGE_LLAMA_SERVER", raising=False)
    yield env
    # Plugins registered while llama.cpp was hidden are not what the next test finds.
    set_plugin_manager(None)


@needs_llamacpp
def test_without_the_gguf_converter_auto_leaves_llamacpp_to_gguf_files(pm, tiny_model_dir: Path) -> None:
    """Converting a Hugging Face model needs largeforge-quant's ``gguf`` quantizer: with the serve
    plugin alone, llama-server is there but a model directory or an alias is served by
    transformers (with the converter, auto picks llama.cpp: tests/e2e)."""
    pm.register(plugin, name="serve")
    assert auto_ranks(str(tiny_model_dir)) == {"transformers": 0}
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir))) == "transformers"
    assert auto_backend("smollm2-135m-instruct", adapters=True) == "transformers"


def test_without_llamacpp_auto_picks_transformers(tiny_model_dir: Path, no_llamacpp: dict[str, str]) -> None:
    assert auto_ranks(str(tiny_model_dir)) == {"transformers": 0}
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir))) == "transformers"


def test_auto_leaves_out_what_llamacpp_cannot_convert(tmp_path: Path) -> None:
    compressed = tmp_path / "gptq"
    compressed.mkdir()
    (compressed / "config.json").write_text('{"quantization_config": {"quant_method": "compressed-tensors"}}')
    assert auto_backend(str(compressed)) == "transformers"
    assert auto_backend(str(tmp_path)) == "transformers"  # a folder without config.json (an adapter)


def test_without_llamacpp_the_same_command_serves_with_transformers(
    tiny_model_dir: Path, no_llamacpp: dict[str, str]
) -> None:
    with ServerProcess(["--model", str(tiny_model_dir), "--threads", "1"], timeout=300, env=no_llamacpp) as proc:
        assert complete(proc.url, tiny_model_dir.name) == reference(tiny_model_dir, None)
    assert "(transformers backend)" in proc.output
