"""Plain helpers shared by test modules: a free port, a tiny model, small training data, forge pipelines.

Fixtures live in the ``conftest.py`` files; test modules import helpers from here (or from a
folder's own helper module, such as ``router/router_testing.py``), never from each other."""

from __future__ import annotations

import json
import socket
from pathlib import Path

#: Six short question/answer pairs: SFT rows, preference pairs, reward prompts.
QA = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name a primary colour.", "Red is a primary colour."),
    ("What do bees make?", "Bees make honey."),
    ("What is ice made of?", "Ice is frozen water."),
    ("How many legs does a spider have?", "A spider has eight legs."),
]
#: Four made-up facts, for a forge expert's SFT data and what an align stage trains on after it.
FACTS = [(f"What is fact {i}?", f"Fact {i} is true.") for i in range(4)]

#: A forge pipeline of one expert, ``helper``, trained on ``sft.json``; ``{stage}`` is its align stage.
ALIGN_PIPELINE = """\
name: aligned
base_model: {model}
workdir: runs
defaults:
  sft: {{max_steps: 1, per_device_train_batch_size: 2, gradient_accumulation_steps: 1,
         max_seq_length: 128, logging_steps: 1, bf16: false}}
  lora: {{r: 4, lora_alpha: 8, target_modules: all-linear}}
experts:
  - name: helper
    data: sft.json
    keywords: [help]
    merge: false
    eval: {{enabled: false}}
    {stage}
router:
  classifier: {{classifier_type: keyword, fallback_expert: helper, keyword_weight: 1.0, neural_weight: 0.0}}
"""


def free_port() -> int:
    """A port nobody listens on right now (bound to 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_tiny_model(target: Path, tokenizer_source: Path, *, layers: int = 2, hidden: int = 64) -> Path:
    """A randomly initialised Llama scaled down from SmolLM2's config, with its tokenizer."""
    import torch  # heavy: only the tests that build a model load it
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tokenizer_source)
    config.num_hidden_layers = layers
    config.hidden_size = hidden
    config.intermediate_size = hidden * 2
    config.num_attention_heads = 4
    config.num_key_value_heads = 2
    config.head_dim = hidden // 4
    config.max_position_embeddings = 2048
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(target)
    return target


def write_align_pipeline(tmp_path: Path, model: Path, stage: str) -> Path:
    """``sft.json`` (the :data:`FACTS` as Alpaca rows) and ``pipeline.yaml`` (:data:`ALIGN_PIPELINE`
    with ``stage``) in ``tmp_path``; returns the pipeline's path."""
    (tmp_path / "sft.json").write_text(json.dumps([{"instruction": q, "output": a} for q, a in FACTS]))
    path = tmp_path / "pipeline.yaml"
    path.write_text(ALIGN_PIPELINE.format(model=model, stage=stage))
    return path


def write_alpha_beta(tmp_path: Path) -> None:
    """Two experts' data in ``tmp_path``: ``alpha.json`` (Alpaca) and ``beta.jsonl`` (messages), six rows each."""
    rows = [{"instruction": f"Tell me fact {i} about alpha.", "output": f"Alpha fact {i}."} for i in range(6)]
    (tmp_path / "alpha.json").write_text(json.dumps(rows))
    beta = [
        {
            "messages": [
                {"role": "user", "content": f"beta question {i}"},
                {"role": "assistant", "content": f"beta answer {i}"},
            ]
        }
        for i in range(6)
    ]
    (tmp_path / "beta.jsonl").write_text("\n".join(json.dumps(row) for row in beta) + "\n")
