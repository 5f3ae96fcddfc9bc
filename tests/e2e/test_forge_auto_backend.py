"""A pipeline without ``serve.backend`` is served as ``serve inference --backend auto`` would
serve it: by llama.cpp where it is installed (the quickstart's team: one GGUF base, its experts as
GGUF LoRA adapters per request), by transformers where it is not; the routed answers are the same."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.forge import load_pipeline, plan_pipeline
from largeforge_serve.engines.llamacpp import llamacpp_available

from .test_forge_pipeline import free_port

pytestmark = pytest.mark.e2e
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"
needs_llamacpp = pytest.mark.skipif(
    not llamacpp_available(), reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)"
)


def _quickstart(tmp_path: Path) -> Path:
    shutil.copytree(QUICKSTART.parent / "data", tmp_path / "data")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(QUICKSTART.read_text())
    return pipeline


@needs_llamacpp
def test_the_quickstart_plan_names_llamacpp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = _quickstart(tmp_path)
    assert plan_pipeline(load_pipeline(pipeline)).serve_backend == "llamacpp"
    assert main(["forge", str(pipeline), "--dry-run"]) == 0
    assert "served by: llamacpp (serve.backend auto, adapters)" in capsys.readouterr().out


def test_without_llamacpp_the_quickstart_plan_names_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-llama.cpp"
    empty.mkdir()
    monkeypatch.setenv("LARGEFORGE_LLAMA_CPP_DIR", str(empty))
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
    monkeypatch.delenv("LARGEFORGE_LLAMA_SERVER", raising=False)
    assert plan_pipeline(load_pipeline(_quickstart(tmp_path))).serve_backend == "transformers"


PIPELINE = """\
name: tinyteam
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 3, learning_rate: 5.0e-3, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, save_steps: 3, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
  eval: {{max_new_tokens: 4, max_rows: 2}}
experts:
  - name: alpha
    data: alpha.json
    keywords: [alpha, greek]
    merge: false
  - name: beta
    data: beta.json
    keywords: [beta]
    merge: false
serve:
  mode: adapters
  host: 127.0.0.1
  base_port: {port}
  max_concurrency: 2
router:
  port: {router_port}
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""
ANSWER = re.compile(r"Q: (.+)\n  → (\S+) \(confidence [\d.]+\): (.*)")


def _routed(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    queries = ["Tell me about the greek letter alpha", "And what about beta?"]
    assert main(["forge", str(pipeline), *(arg for q in queries for arg in ("--ask", q))]) == 0
    return ANSWER.findall(capsys.readouterr().out)


@needs_llamacpp
def test_an_adapters_team_is_served_by_llamacpp_with_the_same_routed_answers(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path / "home"))  # the GGUF cache (llama.cpp stays pinned)
    for name in ("alpha", "beta"):
        rows = [
            {"instruction": f"Tell me about {name} {i}.", "output": f"{name.title()} is letter {i}."} for i in range(6)
        ]
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(model=tiny_model_dir, port=min(free_port(), 64000), router_port=free_port()))
    served = _routed(pipeline, capsys)
    assert [(q, expert) for q, expert, _ in served] == [
        ("Tell me about the greek letter alpha", "alpha"),
        ("And what about beta?", "beta"),
    ]
    log = (tmp_path / "runs" / "logs" / "experts.log").read_text()
    assert "(llamacpp backend)" in log and log.count("converting") == 3  # the base and two adapters
    pipeline.write_text(
        pipeline.read_text().replace("  mode: adapters\n", "  mode: adapters\n  backend: transformers\n")
    )
    assert _routed(pipeline, capsys) == served  # the trained stages are reused; only the engine changed
    assert "(transformers backend)" in (tmp_path / "runs" / "logs" / "experts.log").read_text()
