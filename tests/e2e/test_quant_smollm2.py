"""The embedded SmolLM2-135M-Instruct quantized to 4 bits with GPTQ and with AWQ, on this CPU,
through ``largeforge quant``: each output loads in plain transformers and in largeforge-serve's
engine and still answers "Paris"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
# Small but real calibration: 16 Alpaca rows of up to 192 tokens (the benchmark uses 128 rows);
# AWQ with a coarser scale grid. Enough to keep the answer, cheap enough for the test budget.
OPTIONS = {"gptq": [], "awq": ["--n-grid", "5"]}


@pytest.fixture(scope="module", params=["gptq", "awq"])
def quantized(request: pytest.FixtureRequest, shared_data: Path, smollm2_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    method = request.param
    out = tmp_path_factory.mktemp(f"smollm2-{method}") / "model"
    argv = ["quant", method, "--model", "smollm2-135m-instruct", "--output", str(out),
            "--calibration", str(shared_data / "alpaca_en_demo.json"), "--samples", "16",
            "--seq-length", "192", "--eval-samples", "0", *OPTIONS[method]]
    assert main(argv) == 0
    return method, out


def test_report_and_config(quantized: tuple[str, Path]) -> None:
    from largeforge_quant import get_quantization_config

    method, out = quantized
    report = json.loads((out / "quantization_report.json").read_text(encoding="utf-8"))
    assert report["method"] == method and report["calibration_samples"] == 16
    assert report["linear_ratio_vs_16bit"] <= 0.30
    info = get_quantization_config(out)
    assert (info["quant_method"], info["bits"], info["group_size"]) == (method, 4, 64)


def test_plain_transformers_answers_paris(quantized: tuple[str, Path]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, out = quantized
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        generated = model.generate(**ids, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(generated[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer


def test_serve_engine_answers_paris(quantized: tuple[str, Path]) -> None:
    serve = pytest.importorskip("largeforge_serve.engines.transformers_engine")
    from largeforge.config import GenerationConfig

    _, out = quantized
    engine = serve.TransformersEngine(str(out))
    engine.load()
    try:
        answer = engine.generate(engine.render_chat(QUESTION), GenerationConfig(temperature=0, max_tokens=20))
    finally:
        engine.unload()
    assert "Paris" in answer
