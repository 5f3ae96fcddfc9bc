"""DPO's ``max_prompt_length``: long prompts keep their last tokens (TRL 1.x has no such setting)."""

from __future__ import annotations

import json

from largeforge.config import DPOConfig, LoRAConfig
from largeforge.data import DatasetFactory
from largeforge_train.dpo import DPOTrainer


def test_long_prompts_keep_their_last_tokens(tiny_model_dir, tmp_path):
    context = " ".join(f"fact{i} is true." for i in range(120))
    rows = [
        {"prompt": f"{context} Question: what is two plus two?", "chosen": "Four.", "rejected": "Five."},
        {"prompt": "What is two plus two?", "chosen": "Four.", "rejected": "Five."},
    ]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(rows))
    config = DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_length=512,
        max_prompt_length=64,
        max_steps=1,
        per_device_train_batch_size=2,
    )
    trainer = DPOTrainer(str(tiny_model_dir), config, LoRAConfig(r=4))
    trainer.load_tokenizer()
    dataset = trainer.preflight(DatasetFactory.load(path))
    trainer.load_model()
    full = trainer.tokenizer.apply_chat_template(dataset[0]["prompt"], tokenize=True, add_generation_prompt=True)
    full = full if isinstance(full, list) else full["input_ids"]
    assert len(full) > 300  # the long prompt really is long

    built = trainer._create_trainer(dataset, None)
    long_ids, short_ids = built.train_dataset["prompt_ids"]
    assert len(long_ids) == 64 and long_ids == list(full[-64:])  # the end, with the question, is kept
    assert 10 < len(short_ids) < 64  # short prompts are untouched
    assert trainer.tokenizer.decode(long_ids).rstrip().endswith("assistant")
