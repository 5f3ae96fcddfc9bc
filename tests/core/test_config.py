"""Configs: spec defaults and bounds, cross-field rules, file round trips, readable errors."""

from __future__ import annotations

import pytest

from largeforge.config import (
    DPOConfig,
    ExpertConfig,
    GenerationConfig,
    InferenceConfig,
    LoRAConfig,
    ModelConfig,
    RouterConfig,
    SFTConfig,
    TrainingConfig,
)
from largeforge.errors import ConfigError


def test_spec_defaults():
    assert ModelConfig(name="m").torch_dtype == "bfloat16"
    assert ModelConfig(name="m").device_map == "auto"
    t = TrainingConfig(output_dir="./out")
    assert (t.num_train_epochs, t.per_device_train_batch_size, t.learning_rate) == (3, 4, 2e-5)
    assert (t.warmup_ratio, t.save_total_limit, t.bf16, t.fp16, t.seed) == (0.1, 3, True, False, 42)
    assert LoRAConfig().target_modules == ["q_proj", "v_proj"]
    assert (LoRAConfig().r, LoRAConfig().lora_alpha, LoRAConfig().bias) == (8, 16, "none")
    assert SFTConfig(output_dir="o").max_seq_length == 2048
    assert (DPOConfig(output_dir="o").beta, DPOConfig(output_dir="o").loss_type) == (0.1, "sigmoid")
    g = GenerationConfig(max_tokens=100, temperature=0.8)
    assert (g.top_p, g.top_k, g.repetition_penalty) == (0.9, 50, 1.0)
    assert InferenceConfig().port == 8000 and InferenceConfig().backend == "auto"
    assert RouterConfig().fallback_expert == "general"


@pytest.mark.parametrize(
    ("cls", "kwargs", "fragment"),
    [
        (TrainingConfig, {"output_dir": "o", "num_train_epochs": 0}, "num_train_epochs = 0"),
        (TrainingConfig, {"output_dir": "o", "num_train_epochs": 101}, "1 <= value <= 100"),
        (TrainingConfig, {"output_dir": "o", "learning_rate": 0.0}, "0 < value"),
        (TrainingConfig, {"output_dir": "o", "fp16": True, "bf16": True}, "fp16 and bf16"),
        (LoRAConfig, {"r": 512}, "1 <= value <= 256"),
        (LoRAConfig, {"bias": "some"}, "'none', 'all', 'lora_only'"),
        (SFTConfig, {"output_dir": "o", "max_seq_length": 64}, "128 <= value"),
        (DPOConfig, {"output_dir": "o", "beta": 1.5}, "value <= 1"),
        (DPOConfig, {"output_dir": "o", "loss_type": "kto"}, "'sigmoid', 'hinge', 'ipo'"),
        (GenerationConfig, {"temperature": 2.5}, "0 <= value <= 2"),
        (GenerationConfig, {"top_p": 0.0}, "0 < value <= 1"),
        (InferenceConfig, {"port": 70000}, "1 <= value <= 65535"),
        (InferenceConfig, {"backend": "tgi"}, "'auto', 'vllm', 'transformers'"),
        (InferenceConfig, {"quantization": "int8"}, "'awq', 'gptq'"),
        (RouterConfig, {"keyword_weight": 0.5, "neural_weight": 0.7}, "must be 1.0"),
        (ExpertConfig, {"name": "bad name!"}, "matches"),
        (ExpertConfig, {"name": "x", "endpoint": "localhost:8000"}, "http://"),
    ],
)
def test_bounds_and_rules_rejected_in_code(cls, kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_valid_values_accepted():
    TrainingConfig(output_dir="o", fp16=True, bf16=False)
    RouterConfig(keyword_weight=0.4, neural_weight=0.6)
    ExpertConfig(name="code-expert", endpoint="http://127.0.0.1:8001/")
    assert ExpertConfig(name="e", endpoint="http://a/", endpoints=["http://a", "http://b"]).all_endpoints == [
        "http://a",
        "http://b",
    ]


def test_file_error_names_file_field_value_and_range(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("output_dir: out\nnum_train_epochs: 0\n")
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: num_train_epochs = 0 is invalid")
    assert "(allowed: 1 <= value <= 100)" in message


def test_nested_section_and_unknown_field_lists_allowed(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[lora]\nr = 8\nalpha = 3\n")
    with pytest.raises(ConfigError) as info:
        LoRAConfig.from_file(path, section="lora")
    assert "alpha: unknown field (allowed: r, lora_alpha" in str(info.value)


def test_wrong_type_and_bad_syntax(tmp_path):
    bad_type = tmp_path / "g.json"
    bad_type.write_text('{"max_tokens": "many"}')
    with pytest.raises(ConfigError, match=r"max_tokens = 'many' is invalid: expected int, got str"):
        GenerationConfig.from_file(bad_type)
    broken = tmp_path / "g.yaml"
    broken.write_text("max_tokens: [1,\n")
    with pytest.raises(ConfigError, match="cannot parse YAML"):
        GenerationConfig.from_file(broken)
    with pytest.raises(ConfigError, match="unknown config format"):
        GenerationConfig.from_file(tmp_path / "g.ini")
    with pytest.raises(ConfigError, match="config file not found"):
        GenerationConfig.from_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_round_trip_every_format(tmp_path, suffix):
    config = SFTConfig(output_dir="runs/x", learning_rate=1e-3, packing=True, report_to=["jsonl"])
    path = config.to_file(tmp_path / f"sft{suffix}")
    assert SFTConfig.from_file(path) == config
    gen = GenerationConfig(stop=["\n\n"], seed=3)
    assert GenerationConfig.from_file(gen.to_file(tmp_path / f"gen{suffix}")) == gen


def test_merged_overrides_validate_and_ignore_unset():
    base = SFTConfig(output_dir="o", learning_rate=1e-4)
    merged = base.merged(learning_rate=1e-3, num_train_epochs=None)
    assert merged.learning_rate == 1e-3 and merged.num_train_epochs == base.num_train_epochs
    with pytest.raises(ConfigError, match="command-line options: learning_rate"):
        base.merged(learning_rate=-1)


def test_dpo_prompt_must_fit_in_max_length():
    with pytest.raises(ConfigError, match="max_prompt_length"):
        DPOConfig(output_dir="o", max_length=256, max_prompt_length=256)
