"""GGUF export with llama.cpp's converter and quantizer: checks before work, the file, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from largeforge.cli.main import main
from largeforge.errors import ConfigError

gguf = pytest.importorskip("largeforge_quant.gguf")

needs_llama_cpp = pytest.mark.skipif(
    not (gguf.llama_cpp_home() / "convert_hf_to_gguf.py").is_file(),
    reason="llama.cpp's converter is not installed (scripts/install_llamacpp.sh)",
)


def test_unknown_type_and_options_fail_in_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["quant", "gguf", "--model", str(tiny_model_dir), "--output", str(tmp_path / "x.gguf"), "--type", "q9_z"])
        != 0
    )
    err = capsys.readouterr().err.strip()
    assert "'q9_z' is not a GGUF type" in err and "q4_k_m" in err and len(err.splitlines()) == 1
    with pytest.raises(ConfigError, match="unknown option"):
        gguf.GGUFQuantizer(tiny_model_dir, group_size=64)
    with pytest.raises(ConfigError, match="output_tensor_type 'q9' is not a tensor type"):
        gguf.GGUFQuantizer(tiny_model_dir, output_tensor_type="q9")


def test_missing_converter_names_the_script(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LARGEFORGE_LLAMA_CPP_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"convert_hf_to_gguf.py was not found.*install_llamacpp.sh"):
        gguf.GGUFQuantizer(tiny_model_dir).check_ready(tmp_path / "out.gguf")


@needs_llama_cpp
def test_exports_a_smaller_gguf_with_a_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_quant.calibration import Sample

    texts = [Sample("Question: what is alpha? Answer:", " Alpha is the first letter of the Greek alphabet.")] * 3
    report = gguf.GGUFQuantizer(tiny_model_dir, type="q8_0", eval_samples=3).quantize(texts, tmp_path / "out")
    target = tmp_path / "out" / "model.gguf"
    assert (_metadata(target, "general.type") or "model") == "model"  # an adapter says "adapter"
    assert _metadata(target, "general.architecture") == "llama"
    assert report.output_bytes == target.stat().st_size < report.f16_bytes
    assert 0.4 < report.size_ratio < 0.75  # q8_0 ≈ 8.5 of 16 bits
    assert report.perplexity_f16 and report.perplexity_after and 0.8 < report.perplexity_ratio < 1.25
    saved = json.loads(Path(str(target) + ".report.json").read_text())
    assert saved["gguf_type"] == "q8_0" and saved["size_ratio"] == report.size_ratio
    assert not list((tmp_path / "out").glob("*.partial"))
    with pytest.raises(ConfigError, match="already exists"):
        gguf.GGUFQuantizer(tiny_model_dir, type="q8_0").check_ready(tmp_path / "out")


needs_llama_tools = pytest.mark.skipif(
    not (gguf.llama_cpp_home() / "convert_hf_to_gguf.py").is_file()
    or gguf.find_tool("llama-imatrix") is None
    or gguf.find_tool("llama-quantize") is None,
    reason="llama.cpp's converter, llama-imatrix or llama-quantize is not built (scripts/install_llamacpp.sh)",
)


def _metadata(path: Path, key: str) -> Any:
    from gguf import GGUFReader

    field = GGUFReader(path).fields.get(key)
    return None if field is None else field.contents()


def _tensor_types(path: Path) -> dict[str, str]:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


def _tensor_bytes(path: Path, name: str) -> bytes:
    from gguf import GGUFReader

    return next(bytes(t.data.tobytes()) for t in GGUFReader(path).tensors if t.name == name)


@needs_llama_tools
def test_q4_k_m_gets_an_importance_matrix_and_the_row_fallback_recipe(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The default q4_k_m: an importance matrix from LargeForge's own conversations, and 4.5-bit
    IQ4_NL where rows are not a multiple of 256 (hidden 64 here, 576 in SmolLM2)."""
    report = gguf.GGUFQuantizer(tiny_model_dir, type="q4_k_m", eval_samples=0).quantize([], tmp_path / "auto.gguf")
    extra = report.extra
    assert extra["imatrix"] == "computed" and extra["calibration"] == "builtin"
    assert extra["calibration_texts"] >= 40 and extra["calibration_tokens"] > 4000
    types = _tensor_types(tmp_path / "auto.gguf")
    assert types["blk.0.ffn_gate.weight"] == types["blk.0.attn_q.weight"] == "IQ4_NL"  # not llama.cpp's Q5_0
    # The rest of llama.cpp's Q4_K_M mix stays: the last layer's attn_v gets more bits (Q6_K → Q8_0).
    assert types["blk.0.attn_v.weight"] == "IQ4_NL" and types["blk.1.attn_v.weight"] == "Q8_0"
    assert types["token_embd.weight"] == extra["output_tensor_type"].upper() == "Q5_1"
    assert extra["tensor_types"]["IQ4_NL"] >= 10
    # Without the importance matrix, the same recipe quantizes the same weights differently.
    f16 = gguf.convert_model(tiny_model_dir, tmp_path / "f16.gguf")
    plain = gguf.quantize_file(
        f16,
        tmp_path / "plain.gguf",
        "q4_k_m",
        output_tensor_type="q5_1",
        tensor_types=gguf.row_fallback_types(f16, "q4_k_m"),
    )
    assert _tensor_types(plain) == types
    assert _tensor_bytes(plain, "blk.0.ffn_gate.weight") != _tensor_bytes(
        tmp_path / "auto.gguf", "blk.0.ffn_gate.weight"
    )


def test_bad_imatrix_file_fails_in_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "quant",
                "gguf",
                "--model",
                str(tiny_model_dir),
                "--output",
                str(tmp_path / "x.gguf"),
                "--imatrix",
                str(tmp_path / "missing.gguf"),
            ]
        )
        != 0
    )
    err = capsys.readouterr().err.strip()
    assert "missing.gguf: no such file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.gguf").exists()


@needs_llama_cpp
def test_without_llama_tools_q4_k_m_is_made_without_imatrix(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A llama.cpp home with the converters but no llama-imatrix/llama-quantize: one warning
    line, then the bindings' llama_model_quantize makes the file."""
    home = tmp_path / "llama-home"
    home.mkdir()
    for item in gguf.llama_cpp_home().iterdir():
        if item.name not in ("bin", "build"):
            (home / item.name).symlink_to(item)
    monkeypatch.setenv("LARGEFORGE_LLAMA_CPP_DIR", str(home))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert (
        main(
            [
                "quant",
                "gguf",
                "--model",
                str(tiny_model_dir),
                "--output",
                str(tmp_path / "q.gguf"),
                "--eval-samples",
                "0",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "without an importance matrix" in line]
    assert len(warning) == 1 and "install_llamacpp.sh" in warning[0]
    saved = json.loads((tmp_path / "q.gguf.report.json").read_text())
    assert saved["extra"]["imatrix"] is None and saved["gguf_type"] == "q4_k_m"
