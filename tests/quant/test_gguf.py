"""GGUF export with llama.cpp's converter and quantizer: checks before work, the file, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge.errors import ConfigError

gguf = pytest.importorskip("largeforge_quant.gguf")

needs_llama_cpp = pytest.mark.skipif(
    not (gguf.llama_cpp_home() / "convert_hf_to_gguf.py").is_file(),
    reason="llama.cpp's converter is not installed (scripts/install_llamacpp.sh)")


def test_unknown_type_and_options_fail_in_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["quant", "gguf", "--model", str(tiny_model_dir), "--output", str(tmp_path / "x.gguf"),
                 "--type", "q9_z"]) != 0
    err = capsys.readouterr().err.strip()
    assert "'q9_z' is not a GGUF type" in err and "q4_k_m" in err and len(err.splitlines()) == 1
    with pytest.raises(ConfigError, match="unknown option"):
        gguf.GGUFQuantizer(tiny_model_dir, group_size=64)
    with pytest.raises(ConfigError, match="output_tensor_type 'q9' is not a tensor type"):
        gguf.GGUFQuantizer(tiny_model_dir, output_tensor_type="q9")


def test_missing_converter_names_the_script(tiny_model_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARGEFORGE_LLAMA_CPP_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"convert_hf_to_gguf.py was not found.*install_llamacpp.sh"):
        gguf.GGUFQuantizer(tiny_model_dir).check_ready(tmp_path / "out.gguf")


@needs_llama_cpp
def test_exports_a_smaller_gguf_with_a_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    from largeforge_quant.calibration import Sample
    from largeforge_serve.engines.gguf_files import read_gguf

    texts = [Sample("Question: what is alpha? Answer:", " Alpha is the first letter of the Greek alphabet.")] * 3
    report = gguf.GGUFQuantizer(tiny_model_dir, type="q8_0", eval_samples=3).quantize(texts, tmp_path / "out")
    target = tmp_path / "out" / "model.gguf"
    info = read_gguf(target)
    assert info.kind == "model" and info.architecture == "llama"
    assert report.output_bytes == target.stat().st_size < report.f16_bytes
    assert 0.4 < report.size_ratio < 0.75  # q8_0 ≈ 8.5 of 16 bits
    assert report.perplexity_f16 and report.perplexity_after and 0.8 < report.perplexity_ratio < 1.25
    saved = json.loads(Path(str(target) + ".report.json").read_text())
    assert saved["gguf_type"] == "q8_0" and saved["size_ratio"] == report.size_ratio
    assert not list((tmp_path / "out").glob("*.partial"))
    with pytest.raises(ConfigError, match="already exists"):
        gguf.GGUFQuantizer(tiny_model_dir, type="q8_0").check_ready(tmp_path / "out")
