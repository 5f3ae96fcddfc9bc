"""LoRA utilities on a real (tiny) Llama: targets, PEFT config, setup, merge, adapters."""

from __future__ import annotations

import json

import pytest

from largeforge.config import LoRAConfig
from largeforge.errors import ConfigError
from largeforge_train.lora import (
    get_peft_config,
    get_recommended_config,
    get_target_modules,
    list_adapters,
    load_adapter,
    merge_lora,
    setup_lora,
    unload_lora,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-2-7b-hf", ["q_proj", "k_proj", "v_proj", "o_proj"]),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", ["q_proj", "k_proj", "v_proj", "o_proj"]),
        ("mistralai/Mistral-7B-v0.1", ["q_proj", "k_proj", "v_proj", "o_proj"]),
        ("gpt2", ["c_attn", "c_proj"]),
        ("EleutherAI/gpt-neo-125m", ["c_attn", "c_proj"]),
        ("tiiuae/falcon-7b", ["query_key_value", "dense"]),
        ("some/unknown-model", ["q_proj", "v_proj"]),
    ],
)
def test_target_modules_follow_the_architecture(name, expected):
    assert get_target_modules(name) == expected


def test_target_modules_read_a_local_model_config(tiny_model_dir):
    assert get_target_modules(str(tiny_model_dir)) == ["q_proj", "k_proj", "v_proj", "o_proj"]


def test_recommended_configs():
    assert (get_recommended_config("small").r, get_recommended_config("small").lora_alpha) == (4, 8)
    assert (get_recommended_config("medium").r, get_recommended_config("large").r) == (8, 16)
    with pytest.raises(ConfigError, match="expected one of small, medium, large"):
        get_recommended_config("huge")


def test_peft_config_maps_every_field():
    peft = get_peft_config(
        LoRAConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear", bias="lora_only")
    )
    assert (peft.r, peft.lora_alpha, peft.lora_dropout, peft.bias) == (4, 8, 0.1, "lora_only")
    assert peft.target_modules == "all-linear" and peft.task_type == "CAUSAL_LM"
    auto = get_peft_config(LoRAConfig(target_modules="auto"), "llama")
    assert set(auto.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}


def _model(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def test_setup_save_merge_and_adapters(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = setup_lora(_model(tiny_model_dir), LoRAConfig(r=4, lora_alpha=8, target_modules="auto"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.parameters()) / 10
    with torch.no_grad():  # make the adapter non-trivial so merging changes the output
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    # The standard PEFT layout that vLLM --lora-modules and PeftModel load.
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["peft_type"] == "LORA"

    ids = torch.tensor([[1, 2, 3, 4]])
    model.eval()  # get_peft_model leaves the model in train mode (LoRA dropout active)
    with torch.no_grad():
        expected = model(ids).logits
    merged_dir = merge_lora(str(tiny_model_dir), str(adapter), str(tmp_path / "merged"))
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    assert (merged_dir / "tokenizer_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, expected, atol=1e-4)

    peft_model = PeftModel.from_pretrained(_model(tiny_model_dir), adapter)
    assert list_adapters(peft_model) == ["default"]
    load_adapter(peft_model, str(adapter), "second")
    assert list_adapters(peft_model) == ["default", "second"]
    with pytest.raises(ConfigError, match="already loaded"):
        load_adapter(peft_model, str(adapter), "second")
    base = unload_lora(peft_model)
    assert not any("lora" in name for name, _ in base.named_parameters())


def test_merge_refuses_a_non_adapter(tiny_model_dir, tmp_path):
    from largeforge.errors import ModelSourceError

    with pytest.raises(ModelSourceError, match="not a LoRA adapter directory"):
        merge_lora(None, str(tiny_model_dir), str(tmp_path / "out"))
