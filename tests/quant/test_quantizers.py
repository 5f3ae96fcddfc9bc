"""GPTQ and AWQ on a tiny random Llama: real llm-compressor runs, checked output, fast failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from largeforge.errors import ConfigError, DataError, ModelSourceError
from largeforge_quant import (
    AWQQuantizer,
    GPTQQuantizer,
    get_quantization_config,
    load_quantized,
)
from largeforge_quant.base import OutputExistsError
from largeforge_quant.report import build_report, model_size, perplexity, quantized_layers, render_table

TEXTS = [
    "The capital of France is Paris. It lies on the Seine.",
    "Quantization stores weights in fewer bits with a scale per group.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Calibration data should look like what the model will see when served.",
] * 2


@pytest.fixture(scope="module")
def quantized(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model quantized once with each method (W4 asymmetric, group size chosen: 64)."""
    root = tmp_path_factory.mktemp("quantized")
    out = {}
    for cls, options in ((GPTQQuantizer, {}), (AWQQuantizer, {"n_grid": 3})):
        quantizer = cls(str(tiny_model_dir), bits=4, seq_length=64, **options)
        out[cls.method] = quantizer.quantize(TEXTS, root / cls.method)
    return out


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_output_is_a_compressed_tensors_w4_checkpoint(quantized: dict[str, Path], method: str) -> None:
    path = quantized[method]
    hf = json.loads((path / "config.json").read_text(encoding="utf-8"))["quantization_config"]
    weights = hf["config_groups"]["group_0"]["weights"]
    assert hf["quant_method"] == "compressed-tensors" and hf["format"] == "pack-quantized"
    assert (weights["num_bits"], weights["group_size"], weights["symmetric"]) == (4, 64, False)
    assert hf["ignore"] == ["lm_head"]
    assert (path / "tokenizer.json").is_file() and not path.with_name(path.name + ".partial").exists()
    assert len(quantized_layers(path)) == 14  # every Linear of 2 layers, not lm_head


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_method_is_detected_from_our_record_and_from_the_recipe(
    quantized: dict[str, Path], method: str, tmp_path: Path
) -> None:
    ours = get_quantization_config(quantized[method])
    assert ours["quant_method"] == method and ours["bits"] == 4 and ours["group_size"] == 64
    bare = shutil.copytree(quantized[method], tmp_path / "bare")
    (bare / "quant_config.json").unlink()  # a checkpoint made by llm-compressor directly
    detected = get_quantization_config(bare)
    assert (detected["quant_method"], detected["bits"], detected["group_size"]) == (method, 4, 64)


def test_unquantized_model_has_no_quantization_config(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="not quantized"):
        get_quantization_config(tiny_model_dir)


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_quantized_model_loads_and_stays_close_to_the_original(
    quantized: dict[str, Path], tiny_model_dir: Path, method: str
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = load_quantized(quantized[method])
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.no_grad():  # served with packed int4 weights, against the original model
        before = original(tokens).logits
        after = model(tokens).logits.float()
    rel = float((after - before).norm() / before.norm())
    assert 0.0 < rel < 0.35  # changed (4-bit grid), but close: unrelated logits would be ~1.0
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 8)


def test_report_sizes_and_perplexity(quantized: dict[str, Path], tiny_model_dir: Path) -> None:
    from rich.console import Console

    from largeforge_quant.calibration import Sample

    heldout = [Sample("Question: where is Paris?\nAnswer: ", "In France, on the Seine.")] * 2
    report = build_report(
        tiny_model_dir,
        quantized["gptq"],
        method="gptq",
        scheme="GPTQ W4 asym g64",
        base_model="tiny",
        calibration_source="texts",
        calibration_samples=len(TEXTS),
        seconds=1.0,
        heldout=heldout,
        max_length=64,
    )
    layers = quantized_layers(quantized["gptq"])
    assert report.size_before["linear_bytes_16bit"] == model_size(tiny_model_dir, layers).linear_params * 2
    assert 0.2 < report.linear_ratio_vs_16bit <= 0.30
    assert report.perplexity_before and report.perplexity_after and report.perplexity_ratio
    saved = json.loads(report.save().read_text(encoding="utf-8"))
    assert saved["linear_ratio_vs_16bit"] == report.linear_ratio_vs_16bit
    console = Console(width=120, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "linear layers" in text and "perplexity (2 held-out)" in text


def test_perplexity_scores_completions_only(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge_quant.calibration import Sample

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "Paris is the capital of France and its largest city."
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.no_grad():
        expected = float(torch.exp(model(input_ids=ids, labels=ids).loss))
    assert perplexity(model, tokenizer, [Sample("", text)]) == pytest.approx(expected, rel=1e-4)
    conditioned = perplexity(model, tokenizer, [Sample("Paris is the capital", " of France and its largest city.")])
    assert conditioned != pytest.approx(expected, rel=1e-3)


# -- bad input fails before any heavy work ---------------------------------------------------


@pytest.fixture()
def no_heavy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the model for quantization is the first heavy step: make it an error."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("heavy work started before the input was checked")

    monkeypatch.setattr("largeforge_quant.base.load_model_for_quantization", refuse)


def test_missing_model_fails_at_construction() -> None:
    with pytest.raises(ModelSourceError, match="cannot resolve model 'no-such-model'"):
        GPTQQuantizer("no-such-model")


@pytest.mark.usefixtures("no_heavy_work")
def test_bad_inputs_fail_up_front(tiny_model_dir: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "model.safetensors").write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="already exists"):
        GPTQQuantizer(str(tiny_model_dir)).quantize(TEXTS, existing)
    assert (existing / "model.safetensors").read_bytes() == b"keep me"
    with pytest.raises(DataError, match="calibration data is empty"):
        AWQQuantizer(str(tiny_model_dir)).quantize(["", "   "], tmp_path / "a")
    with pytest.raises(ConfigError, match="group_size 128 does not divide"):
        GPTQQuantizer(str(tiny_model_dir), group_size=128).quantize(TEXTS, tmp_path / "b")
    with pytest.raises(ConfigError, match="bits = 16"):
        AWQQuantizer(str(tiny_model_dir), bits=16)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_awq_cpu_path_does_not_pin_memory() -> None:
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    from largeforge_quant.awq import no_pinning_without_accelerator

    if torch.accelerator.is_available():
        pytest.skip("pinning is left alone when an accelerator is present")
    original = IntermediatesCache.pin_memory
    cache = IntermediatesCache(None, None)
    cache.append({"x": torch.zeros(2)})
    with pytest.raises(RuntimeError):
        cache.pin_memory(0)  # what AWQModifier calls: fails without an accelerator
    with no_pinning_without_accelerator():
        cache.pin_memory(0)
    assert IntermediatesCache.pin_memory is original


def test_plugin_registers_both_quantizers(pm: Any) -> None:
    import largeforge_quant.plugin as plugin

    pm.register(plugin, name="quant")
    registry = pm.registries.quantizers
    assert registry.get("gptq") is GPTQQuantizer and registry.get("awq") is AWQQuantizer
