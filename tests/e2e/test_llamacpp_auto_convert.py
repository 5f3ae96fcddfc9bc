"""``--backend auto`` picks llama.cpp on a CPU machine where it is installed, for a Hugging Face
model too: the model and its PEFT adapters are converted once to GGUF (largeforge-quant's converter,
cached by content) and served by llama-server (largeforge-serve), answering as transformers + PEFT do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from largeforge.backends import auto_backend, auto_ranks
from largeforge.config import InferenceConfig
from largeforge_serve.engines import select_backend_name
from largeforge_serve.engines.llamacpp import llamacpp_available
from largeforge_serve.launch import ServerProcess
from tests.serve.serve_testing import complete, make_adapter, reference

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not llamacpp_available() or os.environ.get("LARGEFORGE_SKIP_LLAMACPP") == "1",
        reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)",
    ),
]


def test_auto_picks_llamacpp_for_a_model_directory_and_an_alias(tiny_model_dir: Path) -> None:
    assert auto_ranks(str(tiny_model_dir)) == {"transformers": 0, "llamacpp": 10}
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir))) == "llamacpp"
    assert auto_backend("smollm2-135m-instruct", adapters=True) == "llamacpp"
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir), backend="transformers")) == (
        "transformers"
    )


def test_a_model_and_adapter_are_converted_once_and_answer_as_peft(tiny_model_dir: Path, tmp_path: Path) -> None:
    """No flag but the model and its adapter: llama-server serves both; a second start finds the
    GGUF files in the cache (nothing converted, the files untouched)."""
    adapter = make_adapter(tiny_model_dir, tmp_path / "alpha-peft", seed=1)
    home = tmp_path / "home"
    # f32 for an exact comparison with transformers' fp32 on the random tiny model.
    args = ["--model", str(tiny_model_dir), "--adapter", f"alpha={adapter}", "--gguf-type", "f32", "--threads", "1"]
    env = {"LARGEFORGE_HOME": str(home)}
    name = tiny_model_dir.name
    with ServerProcess(args, timeout=300, env=env) as proc:
        answers = {model: complete(proc.url, model) for model in (name, "alpha")}
    assert "(llamacpp backend)" in proc.output
    assert proc.output.count("converting") == 2  # the model and the adapter
    assert answers == {name: reference(tiny_model_dir, None), "alpha": reference(tiny_model_dir, adapter)}
    files = sorted((home / "gguf").glob("*/*.gguf"))
    assert sorted(f.name for f in files) == ["adapter-f32.gguf", "model-f32.gguf"]
    stamps = {f: f.stat().st_mtime_ns for f in files}
    with ServerProcess(args, timeout=300, env=env) as again:
        assert complete(again.url, "alpha") == answers["alpha"]
    assert "converting" not in again.output
    assert {f: f.stat().st_mtime_ns for f in sorted((home / "gguf").glob("*/*.gguf"))} == stamps
