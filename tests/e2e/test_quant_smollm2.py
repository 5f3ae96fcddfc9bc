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
def quantized(
    request: pytest.FixtureRequest, shared_data: Path, smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    method = request.param
    out = tmp_path_factory.mktemp(f"smollm2-{method}") / "model"
    argv = [
        "quant",
        method,
        "--model",
        "smollm2-135m-instruct",
        "--output",
        str(out),
        "--calibration",
        str(shared_data / "alpaca_en_demo.json"),
        "--samples",
        "16",
        "--seq-length",
        "192",
        "--eval-samples",
        "0",
        *OPTIONS[method],
    ]
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
    answer = tokenizer.decode(generated[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
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


def test_vllm_serves_it_or_refuses_in_one_line(quantized: tuple[str, Path]) -> None:
    """vLLM's CPU build runs the 4-bit output where its kernel library has the W4 kernel (AVX-512;
    GPTQ started for real: it answers "Paris" through the gateway); elsewhere the server refuses
    it in one line before starting. AWQ's output has the same layout: only its check runs."""
    vllm_env = pytest.importorskip("largeforge_serve.engines.vllm_env")
    if not vllm_env.vllm_available():
        pytest.skip("vLLM is not installed (bash scripts/install_vllm.sh)")
    from largeforge.errors import ConfigError
    from largeforge_serve.engines.vllm_server import VLLMServerEngine
    from largeforge_serve.launch import ServerProcess

    method, out = quantized
    engine = VLLMServerEngine(str(out))
    python = vllm_env.find_vllm_python()
    assert python is not None
    package = vllm_env.vllm_package_dir(python)
    assert package is not None
    avx512, bf16 = vllm_env.this_cpu_features()
    library = vllm_env.cpu_kernel_library(package, avx512=avx512, avx512_bf16=bf16)
    if library is not None and not vllm_env.library_has(library, vllm_env.W4_KERNEL):
        with pytest.raises(ConfigError, match=r"vLLM cannot run 4-bit \(compressed-tensors\) weights on this CPU"):
            engine.check()
        return
    engine.check()
    if method != "gptq":
        return
    # --enforce-eager: no torch.compile, a shorter start (the test budget)
    with ServerProcess(
        ["--backend", "vllm", "--model", str(out), "--max-model-len", "512"],
        timeout=1500,
        env={"LARGEFORGE_VLLM_ARGS": "--enforce-eager"},
    ) as server:
        import openai

        client = openai.OpenAI(base_url=server.url, api_key="-", max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model=out.name,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=20,
            temperature=0,
        )
    # vLLM's W4 kernel serves it; its greedy answer to this question is fragile at 4 bits (seen:
    # "… Paris." and "L'Abbay d'Iry, la France, …", as llama.cpp's q4 GGUFs answer in French too).
    # What this checks is that the 4-bit model runs and talks about the question.
    content = reply.choices[0].message.content or ""
    assert "Paris" in content or "France" in content, content
