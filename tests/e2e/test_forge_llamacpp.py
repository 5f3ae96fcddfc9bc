"""A forge pipeline on llama.cpp: each expert merged and exported to GGUF, served by the
``llamacpp`` backend (llama-server behind the gateway), the router in front routing each query
to the right expert."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge_serve.engines.llamacpp import llamacpp_available
from tests.helpers import free_port, write_alpha_beta

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not llamacpp_available(), reason="llama.cpp's llama-server is not installed (scripts/install_llamacpp.sh)"
    ),
]

PIPELINE = """\
name: tinygguf
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, save_steps: 1, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
  eval: {{max_new_tokens: 4, max_rows: 2}}
experts:
  - name: alpha
    data: alpha.json
    keywords: [alpha, greek]
    quantize: {{method: gguf, type: q8_0}}
  - name: beta
    data: beta.jsonl
    keywords: [beta]
    quantize: {{method: gguf, type: q8_0}}
serve:
  host: 127.0.0.1
  base_port: {port}
  backend: llamacpp
  max_concurrency: 2
router:
  port: {router_port}
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def test_gguf_experts_served_by_llamacpp_behind_the_router(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    write_alpha_beta(tmp_path)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(model=tiny_model_dir, port=min(free_port(), 64000), router_port=free_port()))
    assert (
        main(["forge", str(pipeline), "--ask", "Tell me about the greek letter alpha", "--ask", "And what about beta?"])
        == 0
    )
    out = capsys.readouterr().out
    for name in ("alpha", "beta"):
        gguf = tmp_path / "runs" / "experts" / name / "quantized" / "model" / "model.gguf"
        assert gguf.read_bytes()[:4] == b"GGUF"
    assert re.search(r"Q: Tell me about the greek letter alpha\n  → alpha \(confidence [\d.]+\):", out)
    assert re.search(r"Q: And what about beta\?\n  → beta \(confidence [\d.]+\):", out)
    log = (tmp_path / "runs" / "logs" / "alpha.log").read_text()
    assert "llamacpp backend" in log


def test_llamacpp_per_expert_needs_merged_experts(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    """Per-expert llamacpp serves one model per expert: a merged expert is converted to GGUF when
    its server starts, a bare LoRA adapter cannot be served alone."""
    (tmp_path / "alpha.json").write_text(json.dumps([{"instruction": "a", "output": "b"}] * 4))
    (tmp_path / "beta.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}) + "\n"
    )
    text = PIPELINE.format(model=tiny_model_dir, port=9100, router_port=9200)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(text.replace("    quantize: {method: gguf, type: q8_0}\n  - name: beta", "  - name: beta"))
    assert main(["forge", str(pipeline), "--dry-run"]) == 0  # alpha merged, no GGUF stage: converted at start
    assert "served by: llamacpp" in capsys.readouterr().out
    pipeline.write_text(
        text.replace("    quantize: {method: gguf, type: q8_0}\n  - name: beta", "    merge: false\n  - name: beta")
    )
    assert main(["forge", str(pipeline), "--dry-run"]) != 0
    err = capsys.readouterr().err
    assert "serve.backend 'llamacpp' serves one model per expert" in err and "merge: true" in err
