"""``--backend auto`` picks llama.cpp on a CPU machine where it is installed, for a Hugging Face
model too: the model and its PEFT adapters are converted once to GGUF (cached by content) and
served by llama-server, answering as transformers + PEFT do. Without llama.cpp (its lookup
pointed at an empty folder) the same command serves with transformers."""

from __future__ import annotations

import os
from pathlib import Path

import openai
import pytest

from largeforge.backends import auto_backend, auto_ranks
from largeforge.config import InferenceConfig
from largeforge_serve.engines import select_backend_name
from largeforge_serve.engines.llamacpp import llamacpp_available
from largeforge_serve.launch import ServerProcess
from tests.serve.serve_testing import GREEDY, PROMPT, make_adapter, reference

needs_llamacpp = pytest.mark.skipif(
    not llamacpp_available() or os.environ.get("LARGEFORGE_SKIP_LLAMACPP") == "1",
    reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)",
)


@pytest.fixture()
def no_llamacpp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A machine without llama.cpp: its lookup points at an empty folder, nothing on PATH."""
    empty = tmp_path / "no-llama.cpp"
    empty.mkdir()
    env = {"LARGEFORGE_LLAMA_CPP_DIR": str(empty), "PATH": f"{empty}:/usr/bin:/bin"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LARGEFORGE_LLAMA_SERVER", raising=False)
    return env


@needs_llamacpp
def test_auto_picks_llamacpp_for_a_model_directory_and_an_alias(tiny_model_dir: Path) -> None:
    assert auto_ranks(str(tiny_model_dir)) == {"transformers": 0, "llamacpp": 10}
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir))) == "llamacpp"
    assert auto_backend("smollm2-135m-instruct", adapters=True) == "llamacpp"
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir), backend="transformers")) == (
        "transformers"
    )


def test_without_llamacpp_auto_picks_transformers(tiny_model_dir: Path, no_llamacpp: dict[str, str]) -> None:
    assert auto_ranks(str(tiny_model_dir)) == {"transformers": 0}
    assert select_backend_name(InferenceConfig(model_path=str(tiny_model_dir))) == "transformers"


def test_auto_leaves_out_what_llamacpp_cannot_convert(tmp_path: Path) -> None:
    compressed = tmp_path / "gptq"
    compressed.mkdir()
    (compressed / "config.json").write_text('{"quantization_config": {"quant_method": "compressed-tensors"}}')
    assert auto_backend(str(compressed)) == "transformers"
    assert auto_backend(str(tmp_path)) == "transformers"  # a folder without config.json (an adapter)


def _answer(url: str, model: str) -> str:
    client = openai.OpenAI(base_url=url, api_key="-", max_retries=0)
    out = client.completions.create(model=model, prompt=PROMPT, max_tokens=GREEDY.max_tokens, temperature=0)
    return out.choices[0].text


@needs_llamacpp
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
        answers = {model: _answer(proc.url, model) for model in (name, "alpha")}
    assert "(llamacpp backend)" in proc.output
    assert proc.output.count("converting") == 2  # the model and the adapter
    assert answers == {name: reference(tiny_model_dir, None), "alpha": reference(tiny_model_dir, adapter)}
    files = sorted((home / "gguf").glob("*/*.gguf"))
    assert sorted(f.name for f in files) == ["adapter-f32.gguf", "model-f32.gguf"]
    stamps = {f: f.stat().st_mtime_ns for f in files}
    with ServerProcess(args, timeout=300, env=env) as again:
        assert _answer(again.url, "alpha") == answers["alpha"]
    assert "converting" not in again.output
    assert {f: f.stat().st_mtime_ns for f in sorted((home / "gguf").glob("*/*.gguf"))} == stamps


def test_without_llamacpp_the_same_command_serves_with_transformers(
    tiny_model_dir: Path, no_llamacpp: dict[str, str]
) -> None:
    with ServerProcess(["--model", str(tiny_model_dir), "--threads", "1"], timeout=300, env=no_llamacpp) as proc:
        assert _answer(proc.url, tiny_model_dir.name) == reference(tiny_model_dir, None)
    assert "(transformers backend)" in proc.output
