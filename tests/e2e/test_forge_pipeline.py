"""``largeforge forge`` end to end on a tiny model: train, merge, quantize, skip, re-run one
expert after its data changed, then serve and route a query."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge.cli.main import main
from tests.helpers import free_port, write_alpha_beta

pytestmark = pytest.mark.e2e

PIPELINE = """\
name: tiny
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, save_steps: 1, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
experts:
  - name: alpha
    data: alpha.json
    keywords: [alpha, greek]
    merge: false
  - name: beta
    data: beta.jsonl
    keywords: [beta, quantized]
    quantize:
      method: gptq
      num_samples: 4
      options: {{group_size: 32}}
serve:
  host: 127.0.0.1
  base_port: {port}
  max_concurrency: 2
router:
  port: {router_port}
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def stage_lines(out: str) -> dict[tuple[str, str], str]:
    """``(expert, stage) → status`` from the forge progress lines."""
    found = {}
    for expert, stage, status in re.findall(r"\] (\S+) · (\w+) \(\S+\) (running…|skipped)", out):
        found[(expert, stage)] = "skipped" if status == "skipped" else "ran"
    return found


@pytest.fixture()
def pipeline(tmp_path: Path, tiny_model_dir: Path) -> Path:
    write_alpha_beta(tmp_path)
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(model=tiny_model_dir, port=min(free_port(), 64000), router_port=free_port()))
    return path


def test_forge_runs_skips_and_reruns_only_what_changed(pipeline, capsys):
    assert main(["forge", str(pipeline)]) == 0
    first = stage_lines(capsys.readouterr().out)
    assert first == {
        ("alpha", "sft"): "ran",
        ("alpha", "eval"): "ran",
        ("beta", "sft"): "ran",
        ("beta", "merge"): "ran",
        ("beta", "quantize"): "ran",
        ("beta", "eval"): "ran",
        ("router", "route"): "ran",
    }
    runs = pipeline.parent / "runs" / "experts"
    assert (runs / "alpha" / "sft" / "adapter_config.json").is_file()  # kept as a LoRA adapter
    assert (runs / "beta" / "merged" / "config.json").is_file()
    quant_config = json.loads((runs / "beta" / "quantized" / "model" / "config.json").read_text())
    assert "quantization_config" in quant_config
    # The report has the quantized expert measured beside the merged one, and its size.
    figures = json.loads((pipeline.parent / "runs" / "report.json").read_text())
    beta = figures["experts"]["beta"]
    assert set(beta["eval"]["models"]) == {"base", "expert", "quantized"}
    assert beta["eval"]["models"]["quantized"]["loss"] > 0
    quant = beta["quantization"]
    assert 0 < quant["bytes_after"] < quant["bytes_before"] and quant["perplexity_after"] > 0
    assert 'data-plot="quant-size-beta"' in (pipeline.parent / "runs" / "report.html").read_text()

    assert main(["forge", str(pipeline)]) == 0
    assert set(stage_lines(capsys.readouterr().out).values()) == {"skipped"}

    beta = pipeline.parent / "beta.jsonl"
    beta.write_text(beta.read_text().replace("beta answer 0", "a changed beta answer"))
    assert main(["forge", str(pipeline)]) == 0
    third = stage_lines(capsys.readouterr().out)
    assert third == {
        ("alpha", "sft"): "skipped",
        ("alpha", "eval"): "skipped",
        ("beta", "sft"): "ran",
        ("beta", "merge"): "ran",
        ("beta", "quantize"): "ran",
        ("beta", "eval"): "ran",
        ("router", "route"): "ran",
    }


def test_forge_serves_and_routes(pipeline, capsys):
    """--ask starts a server per expert and the router, and reports which expert answered."""
    text = pipeline.read_text().replace(
        "    quantize:\n      method: gptq\n      num_samples: 4\n      options: {group_size: 32}\n", ""
    )
    pipeline.write_text(text)
    assert (
        main(["forge", str(pipeline), "--ask", "Tell me about the greek letter alpha", "--ask", "And what about beta?"])
        == 0
    )
    out = capsys.readouterr().out
    assert "Routed answers" in out
    assert re.search(r"Q: Tell me about the greek letter alpha\n  → alpha \(confidence [\d.]+\):", out)
    assert re.search(r"Q: And what about beta\?\n  → beta \(confidence [\d.]+\):", out)
    router = pipeline.parent / "runs" / "router.yaml"
    assert "endpoints" in router.read_text()
