"""How LargeForge's options become vLLM's, and the one-line refusals that come before a start of
minutes (no vLLM process is started here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from largeforge.cli.main import main
from largeforge.config import InferenceConfig
from largeforge.errors import ConfigError, ModelSourceError
from largeforge_serve.engines import vllm_env
from largeforge_serve.engines.vllm_server import VLLMServerEngine
from tests.vllm.vllm_testing import needs_vllm

pytestmark = needs_vllm

#: The quantization_config ``largeforge quant gptq`` writes (compressed-tensors, int4, groups of 64).
W4A16 = {
    "quant_method": "compressed-tensors",
    "format": "pack-quantized",
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 64},
        }
    },
    "ignore": ["lm_head"],
}


def options_of(argv: list[str]) -> dict[str, str | None]:
    """``--name value`` pairs (None for a flag without a value; a list keeps its first value)."""
    out: dict[str, str | None] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            following = argv[i + 1] if i + 1 < len(argv) else None
            out[arg] = following if following is not None and not following.startswith("--") else None
    return out


def engine(model: str = "smollm2-135m-instruct", **options: Any) -> VLLMServerEngine:
    config = InferenceConfig(model_path=model, **options.pop("config", {}))
    return VLLMServerEngine(model, config, **options)


def test_options_map_onto_vllms(smollm2_dir: Path, vllm_adapters: dict[str, Path]) -> None:
    e = engine(
        config={"max_model_len": 1024, "pipeline_parallel_size": 2, "tensor_parallel_size": 3},
        adapters={k: str(v) for k, v in vllm_adapters.items()},
        max_batch_size=6,
        threads=1,
    )
    e.served_name = "team"
    e.check()
    argv = e.command("127.0.0.1", 8123)
    assert argv[:3] == [vllm_env.find_vllm_python(), "-m", "vllm.entrypoints.openai.api_server"]
    options = options_of(argv)
    assert options["--model"] == str(smollm2_dir)  # the embedded alias, resolved to the cached directory
    assert (options["--host"], options["--port"]) == ("127.0.0.1", "8123")
    assert (options["--max-model-len"], options["--max-num-seqs"]) == ("1024", "6")
    assert (options["--tensor-parallel-size"], options["--pipeline-parallel-size"]) == ("3", "2")
    assert options["--dtype"] == "float32"  # not vLLM's CPU default, a bfloat16 downcast
    lora = argv[argv.index("--enable-lora") :]
    assert lora[:5] == ["--enable-lora", "--max-loras", "3", "--max-lora-rank", "8"]  # rank 4 → vLLM's 8
    # On a CPU the base model is served as a zero adapter under the served name (vllm_lora.py).
    assert options["--served-model-name"] == "team@no-adapter"
    assert e.base_adapter is not None
    assert lora[5:] == [
        "--lora-modules",
        f"team={e.base_adapter}",
        f"alpha={vllm_adapters['alpha']}",
        f"beta={vllm_adapters['beta']}",
    ]
    from safetensors.torch import load_file

    zero = load_file(str(e.base_adapter / "adapter_model.safetensors"))
    assert zero and all(not t.any() and 1 in t.shape for t in zero.values())
    assert len(zero) == len(load_file(str(vllm_adapters["alpha"] / "adapter_model.safetensors")))
    assert json.loads((e.base_adapter / "adapter_config.json").read_text())["r"] == 1
    env = e.environment()
    # 30 layers × 3 KV heads × 64 × fp32 × (K, V) = 45 KiB a token; × 1024 × 6 → 1 GiB (rounded up)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert (env["VLLM_CPU_OMP_THREADS_BIND"], env["OMP_NUM_THREADS"]) == ("nobind", "1")
    assert e.upstream_body({"model": "alpha", "x": 1}, "alpha") == {"model": "alpha", "x": 1}
    assert e.upstream_body({"model": "whatever"}, None) == {"model": "team"}
    e.unload()
    assert e.base_adapter is None


def test_context_length_follows_the_model_and_no_lora_without_adapters() -> None:
    e = engine(config={"max_model_len": 100_000})
    e.check()
    argv = e.command("127.0.0.1", 1)
    assert argv[argv.index("--max-model-len") + 1] == "8192"
    assert "--enable-lora" not in argv
    assert argv[argv.index("--served-model-name") + 1] == "smollm2-135m-instruct"
    assert e.environment()["VLLM_CPU_KVCACHE_SPACE"] == "3"  # 45 KiB × 8192 tokens × 8 sequences = 2.8 GiB


def test_extra_arguments_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARGEFORGE_VLLM_ARGS", "--enforce-eager --seed 3")
    e = engine()
    e.check()
    assert e.command("127.0.0.1", 1)[-3:] == ["--enforce-eager", "--seed", "3"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"config": {"tensor_parallel_size": 2}},
            "--tensor-parallel 2: the model's 9 attention heads do not divide by 2 (vLLM splits heads across ranks); "
            "use a size that divides 9",
        ),
        (
            {"config": {"quantization": "gptq"}},
            "--quantization gptq: smollm2-135m-instruct is not a quantized checkpoint (no quantization_config in "
            "config.json)",
        ),
    ],
)
def test_bad_options_fail_in_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        engine(**options).check()
    assert str(info.value) == message


def test_bad_adapters_and_models_fail_in_one_line(tmp_path: Path, vllm_adapters: dict[str, Path]) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^--adapter law: {tmp_path} has no adapter_config.json "
        r"\(not a PEFT adapter\)$",
    ):
        engine(adapters={"law": str(tmp_path)}).check()
    ia3 = tmp_path / "ia3"
    shutil.copytree(vllm_adapters["alpha"], ia3)
    (ia3 / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(ConfigError, match=r"^--adapter x: vLLM serves LoRA adapters, .* is IA3$"):
        engine(adapters={"x": str(ia3)}).check()
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(
        ConfigError,
        match=r"serves a Hugging Face model directory; for a GGUF file use "
        r"--backend llamacpp$",
    ):
        engine(str(gguf)).check()
    with pytest.raises(
        ConfigError,
        match=r"^--model .*alpha is a LoRA adapter; serve it on its base model with "
        r"--model BASE --adapter NAME=.*alpha$",
    ):
        engine(str(vllm_adapters["alpha"])).check()
    with pytest.raises(ModelSourceError, match=r"is not a model directory \(no config.json or adapter_config.json\)$"):
        engine(str(tmp_path)).check()


def test_no_vllm_found_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LARGEFORGE_VLLM_PYTHON", str(tmp_path / "python"))
    with pytest.raises(
        ConfigError,
        match=r"^the vllm backend needs vLLM, which was not found: install it with "
        r"`bash scripts/install_vllm.sh`",
    ):
        engine().check()


def test_which_cpu_kernel_library_has_the_4bit_kernel() -> None:
    """vLLM's CPU wheel: the W4A16 operator is in its AVX-512 libraries, not in the AVX2 one."""
    python = vllm_env.find_vllm_python()
    assert python is not None
    package = vllm_env.vllm_package_dir(python)
    assert package is not None
    avx2 = vllm_env.cpu_kernel_library(package, avx512=False, avx512_bf16=False)
    avx512 = vllm_env.cpu_kernel_library(package, avx512=True, avx512_bf16=False)
    full = vllm_env.cpu_kernel_library(package, avx512=True, avx512_bf16=True)
    assert avx2 is not None and avx512 is not None and full is not None
    assert (avx2.name, avx512.name, full.name) == ("_C_AVX2.abi3.so", "_C_AVX512.abi3.so", "_C.abi3.so")
    assert not vllm_env.library_has(avx2, vllm_env.W4_KERNEL)
    assert vllm_env.library_has(avx512, vllm_env.W4_KERNEL) and vllm_env.library_has(full, vllm_env.W4_KERNEL)


def test_4bit_checkpoint_on_an_avx2_cpu_is_refused_before_starting(
    smollm2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an AVX2-only CPU (the CPU query answers so; the library read is the real one) the
    GPTQ/AWQ output of ``largeforge quant`` fails in one line, with no vLLM start."""
    model = tmp_path / "gptq"
    shutil.copytree(smollm2_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "quantization_config": W4A16}))
    monkeypatch.setattr(vllm_env, "this_cpu_features", lambda: (False, False))
    monkeypatch.setattr("largeforge_serve.engines.vllm_server.this_cpu_features", lambda: (False, False))
    code = main(["serve", "inference", "--backend", "vllm", "--model", str(model), "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert err[-1] == (
        f"error: --model {model}: vLLM cannot run 4-bit (compressed-tensors) weights on this CPU: "
        "its kernel library for it (_C_AVX2.abi3.so, no AVX-512) has no cpu_gemm_wna16 operator; "
        "serve it with --backend transformers, or on an AVX-512 CPU or a GPU"
    )
