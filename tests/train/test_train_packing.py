"""Packed SFT stays exact: each packed example is computed as if it were alone, no padding is computed
or trained, and the attention does not go through a dense mask of the whole batch."""

from __future__ import annotations

import json
from itertools import accumulate, pairwise

import pytest

torch = pytest.importorskip("torch")

EXAMPLES = [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "I am Nova, an assistant made by Acme Labs to answer questions."},
    ],
    [{"role": "user", "content": "What is two plus two?"}, {"role": "assistant", "content": "Four."}],
]


def _load(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def _alone(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def _packed_batch(tokenizer, ids):
    """TRL's padding-free collation of one best-fit-decreasing row holding the examples."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    row = {"input_ids": [t for x in ids for t in x], "seq_lengths": [len(x) for x in ids]}
    return DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)([row])


def test_packed_attention_matches_each_example_alone(tiny_model_dir):
    from largeforge_train.packing import PACKED_SDPA, use_packed_attention

    model, tokenizer = _load(tiny_model_dir)
    ids = [tokenizer.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"] for m in EXAMPLES]
    alone = [_alone(model, x) for x in ids]
    batch = _packed_batch(tokenizer, ids)
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, sum(map(len, ids)))
    assert batch["position_ids"][0].tolist() == [p for x in ids for p in range(len(x))]

    assert use_packed_attention(model) and model.config._attn_implementation == PACKED_SDPA
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    by_position = {k: v for k, v in inputs.items() if k in ("input_ids", "position_ids")}
    with torch.no_grad():
        packed = model(**inputs, use_cache=False).logits[0]  # as TRL calls it in training
        cached = model(**inputs).logits[0]  # with a cache transformers would not even look for boundaries
        from_positions = model(**by_position, use_cache=False).logits[0]  # boundaries from position ids alone
        leaked = model(input_ids=batch["input_ids"]).logits[0]  # no boundaries: one long sequence
    start = 0
    for x, logits in zip(ids, alone, strict=True):
        end = start + len(x)
        torch.testing.assert_close(packed[start:end], logits, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(cached[start:end], logits, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(from_positions[start:end], logits, atol=1e-5, rtol=1e-4)
        start = end
    # The check has teeth: attending across examples changes every example after the first.
    assert not torch.allclose(leaked[len(ids[0]) :], packed[len(ids[0]) :], atol=1e-3)

    # Padded (unpacked) batches and generation still go through transformers' sdpa path unchanged.
    padded = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    with torch.no_grad():
        logits = model(**padded).logits
    for i, x in enumerate(ids):
        torch.testing.assert_close(logits[i, : len(x)], alone[i], atol=1e-5, rtol=1e-4)
    out = model.generate(torch.tensor([ids[0]]), max_new_tokens=3, do_sample=False)
    assert out.shape[1] == len(ids[0]) + 3
    assert PACKED_SDPA not in json.dumps(model.config.to_dict())  # never written into a saved config


def test_packing_without_dense_mask(tiny_model_dir):
    """transformers builds no T×T mask for a packed row under the packed attention (it does under sdpa)."""
    from transformers import masking_utils

    from largeforge_train.packing import use_packed_attention

    model, tokenizer = _load(tiny_model_dir)
    ids = [tokenizer.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"] for m in EXAMPLES]
    inputs = {k: v for k, v in _packed_batch(tokenizer, ids).items() if k != "labels"}
    masks: list = []
    original = masking_utils.create_causal_mask

    def spy(*args, **kwargs):
        masks.append(original(*args, **kwargs))
        return masks[-1]

    with pytest.MonkeyPatch.context() as mp:
        import transformers.models.llama.modeling_llama as llama

        mp.setattr(llama, "create_causal_mask", spy)
        with torch.no_grad():
            model(**inputs, use_cache=False)  # as TRL calls it in training
            length = inputs["input_ids"].shape[1]
            assert masks[-1] is not None and masks[-1].shape[-2:] == (length, length)  # sdpa: dense block-diagonal
            use_packed_attention(model)
            model(**inputs, use_cache=False)
            assert masks[-1] is None


def test_pack_to_batch_rows_hold_about_a_batch_of_whole_examples():
    import random

    import datasets
    from trl import pack_dataset

    from largeforge_train.packing import pack_to_batch

    rng = random.Random(0)
    examples = [[rng.randrange(1, 1000) for _ in range(rng.randrange(40, 160))] for _ in range(60)]
    rows = pack_dataset(datasets.Dataset.from_dict({"input_ids": examples, "labels": examples}), 512, "bfd")
    assert len(rows) <= 20  # TRL: rows of 512 tokens, ~5 examples each
    packed = pack_to_batch(rows, 3)
    lengths = [len(x) for x in examples]
    row_length = max(max(lengths), -(-3 * sum(lengths) // len(lengths)))
    assert all(len(ids) <= row_length for ids in packed["input_ids"])
    assert 2.5 <= len(examples) / len(packed) <= 3  # about a batch of 3 per row
    got = sorted(
        tuple(ids[start:end])
        for ids, ns in zip(packed["input_ids"], packed["seq_lengths"], strict=True)
        for start, end in pairwise([0, *accumulate(ns)])
    )
    assert got == sorted(map(tuple, examples))  # whole examples, each once
    assert packed["labels"] == packed["input_ids"]  # labels travel with their tokens


def test_sft_packing_trains_whole_examples_without_padding(tiny_model_dir, tmp_path):
    """LargeForge's packed SFT epoch: each example once and whole, position ids reset at each, no
    padding, the same labels (completion tokens only) as unpacked training, each example's logits as
    if alone, and about a batch of examples per step."""
    from collections import Counter

    from largeforge.config import LoRAConfig, SFTConfig
    from largeforge.data import DatasetFactory
    from largeforge_train.packing import PACKED_SDPA
    from largeforge_train.sft import SFTTrainer

    rows = [{"instruction": m[0]["content"], "input": "", "output": m[1]["content"]} for m in EXAMPLES] * 4
    data = tmp_path / "short.json"
    data.write_text(json.dumps(rows))

    def build(packing: bool):
        config = SFTConfig(
            output_dir=str(tmp_path / f"out-{packing}"),
            max_steps=1,
            per_device_train_batch_size=3,
            max_seq_length=128,
            packing=packing,
            bf16=False,
        )
        trainer = SFTTrainer(
            str(tiny_model_dir), config, LoRAConfig(r=4, lora_alpha=8, lora_dropout=0.0), progress=False
        )
        trainer.load_tokenizer()
        dataset = trainer.preflight(DatasetFactory.load(data))
        trainer.load_model()
        return trainer._create_trainer(dataset, None)

    unpacked = build(False)
    assert unpacked.model.config._attn_implementation == "sdpa"  # unpacked: padded to the longest in the batch
    assert unpacked.args.per_device_train_batch_size == 3
    examples = Counter(tuple(r["input_ids"]) for r in unpacked.train_dataset)
    labels_of = {tuple(r["input_ids"]): r["labels"] for r in unpacked.train_dataset}

    packed = build(True)
    assert packed.args.packing_strategy == "bfd" and packed.args.padding_free
    assert packed.args.per_device_train_batch_size == 1  # one packed row per step ...
    assert packed.model.config._attn_implementation == PACKED_SDPA
    batches = list(packed.get_train_dataloader())
    assert 2 <= sum(examples.values()) / len(batches) <= 3  # ... holding about a batch of 3 examples
    assert max(len(b["cu_seq_lens_q"]) - 1 for b in batches) >= 2

    seen: Counter = Counter()
    model = packed.model.eval()
    for batch in batches:
        assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
        bounds = batch["cu_seq_lens_q"].tolist()
        assert bounds[-1] == batch["input_ids"].shape[1]  # no padding after the last example
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[0]
        for start, end in pairwise(bounds):
            ids = tuple(batch["input_ids"][0, start:end].tolist())
            assert ids in labels_of  # a whole example, not a piece of one
            seen[ids] += 1
            assert batch["position_ids"][0, start:end].tolist() == list(range(end - start))
            expected = list(labels_of[ids])
            expected[0] = -100  # the collator never trains a sequence's first token (a prompt token anyway)
            assert batch["labels"][0, start:end].tolist() == expected  # completion tokens only, as unpacked
            with torch.no_grad():
                alone = model(input_ids=torch.tensor([ids])).logits[0]
            torch.testing.assert_close(logits[start:end], alone, atol=1e-5, rtol=1e-4)
    assert seen == examples  # one epoch trains every example exactly once
