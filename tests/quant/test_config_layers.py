"""QuantizationConfig bounds and the up-front group size check."""

from __future__ import annotations

from pathlib import Path

import pytest

from largeforge.errors import ConfigError
from largeforge_quant.config import QuantizationConfig
from largeforge_quant.layers import quantized_layer_widths, resolve_group_size


def test_defaults_follow_llmcompressor_and_the_spec() -> None:
    cfg = QuantizationConfig()
    assert (cfg.method, cfg.bits, cfg.group_size, cfg.symmetric) == ("gptq", 4, None, False)
    assert cfg.ignore == ["lm_head"] and cfg.num_samples == 128 and cfg.seq_length == 512


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("bits", 1, "2 <= value <= 8"),
        ("method", "int8", "'awq', 'gptq'"),
        ("damp_percent", 0.0, "< value <= 1"),  # typing caches Annotated: 1 or 1.0 by import order
        ("act_order", "random", "'static'"),
        ("group_size", 0, "group_size = 0"),
    ],
)
def test_bad_values_raise_config_error(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        QuantizationConfig(**{field: value})  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_config_file_round_trip_and_error_names_file(tmp_path: Path) -> None:
    cfg = QuantizationConfig(method="awq", group_size=64, symmetric=True, n_grid=5)
    path = cfg.to_file(tmp_path / "quant.yaml")
    assert QuantizationConfig.from_file(path) == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("bits = 16\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: bits = 16"):
        QuantizationConfig.from_file(bad)


def test_tiny_model_widths(tiny_model_dir: Path) -> None:
    widths = quantized_layer_widths(tiny_model_dir, ["lm_head"])
    assert set(widths.values()) == {64, 128}  # hidden 64 (attention, gate/up), intermediate 128 (down)
    assert "lm_head" not in widths and len(widths) == 2 * 7


def test_smollm2_group_size_128_fails_up_front_with_a_suggestion(smollm2_dir: Path) -> None:
    widths = quantized_layer_widths(smollm2_dir, ["lm_head"])
    assert set(widths.values()) == {576, 1536}
    assert resolve_group_size(widths, None) == 64
    with pytest.raises(ConfigError) as info:
        resolve_group_size(widths, 128)
    message = str(info.value)
    assert "576" in message and "use 64" in message and "\n" not in message


def test_group_size_choices() -> None:
    widths = {"a": 96, "b": 192}
    assert resolve_group_size(widths, None) == 32
    assert resolve_group_size(widths, 32) == 32
    assert resolve_group_size(widths, -1) == -1
    assert resolve_group_size({"a": 100}, None) == -1  # nothing divides: per channel
    with pytest.raises(ConfigError, match="use -1"):
        resolve_group_size({"a": 100}, 64)
