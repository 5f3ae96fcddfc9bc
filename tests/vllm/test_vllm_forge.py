"""``serve: {backend: vllm}`` in a forge pipeline: two LoRA experts trained on a tiny model, served
as adapters by one vLLM server, the router in front; ``--ask`` is answered through it and nothing
of vLLM is left running afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge.cli.main import main
from tests.helpers import build_tiny_model, free_port
from tests.vllm.vllm_testing import needs_vllm

pytestmark = [needs_vllm, pytest.mark.e2e, pytest.mark.slow]

PIPELINE = """\
name: tiny-vllm
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, save_steps: 2, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
experts:
  - name: alpha
    data: alpha.json
    keywords: [alpha, greek]
    merge: false
  - name: beta
    data: beta.json
    keywords: [beta]
    merge: false
serve: {{mode: adapters, backend: vllm, host: 127.0.0.1, base_port: {port}, max_concurrency: 2}}
router:
  port: {router_port}
  classifier: {{classifier_type: keyword, fallback_expert: alpha, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def vllm_processes(model: Path) -> list[int]:
    """Running vLLM servers of ``model`` (by command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "vllm.entrypoints" in cmdline and str(model) in cmdline:
                found.append(int(entry.name))
    return found


def test_forge_serves_adapter_experts_with_vllm_behind_the_router(
    tmp_path: Path, smollm2_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # head_dim 32: the smallest vLLM's CPU attention takes (the shared tiny model's is 16)
    model = build_tiny_model(tmp_path / "tiny", smollm2_dir, hidden=128)
    for name in ("alpha", "beta"):
        rows = [{"instruction": f"Tell me fact {i} about {name}.", "output": f"{name} fact {i}."} for i in range(4)]
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(model=model, port=min(free_port(), 64000), router_port=free_port()))
    assert (
        main(["forge", str(pipeline), "--ask", "Tell me about the greek letter alpha", "--ask", "And what about beta?"])
        == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"Q: Tell me about the greek letter alpha\n  → alpha \(confidence [\d.]+\):", out)
    assert re.search(r"Q: And what about beta\?\n  → beta \(confidence [\d.]+\):", out)
    log = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "runs" / "logs").glob("experts*"))
    assert "vllm backend" in log
    assert vllm_processes(model) == []
