"""A Hugging Face model directory → a GGUF file, by llama.cpp's own ``convert_hf_to_gguf.py``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from largeforge_quant.gguf.toolchain import converter_script, run


def gguf_output_file(output: str | Path) -> Path:
    """``output`` itself when it names a ``.gguf`` file, else ``output/model.gguf``."""
    path = Path(output).expanduser()
    return path if path.suffix == ".gguf" else path / "model.gguf"


def byte_level_view(model_dir: Path, work: Path) -> Path:
    """``model_dir``, or a view of it whose tokenizer.json says what its tokenizer really is.

    A byte-level BPE tokenizer rebuilt by transformers from a GGUF file (the embedded SmolLM2)
    carries SentencePiece-style ``byte_fallback`` and decoders it never uses (every byte has a
    token); llama.cpp's converter would then write it as a SentencePiece vocabulary, and
    llama.cpp could not tokenize with it. The view links every file but a corrected
    tokenizer.json, so the converter takes its byte-level (GPT-2 style) path.
    """
    tokenizer_file = model_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        return model_dir
    tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    model, pre = tokenizer.get("model") or {}, tokenizer.get("pre_tokenizer") or {}
    if not (model.get("type") == "BPE" and model.get("byte_fallback") and pre.get("type") == "ByteLevel"):
        return model_dir
    view = work / "source"
    view.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.name != "tokenizer.json" and not (view / item.name).exists():
            (view / item.name).symlink_to(item.resolve())
    model["byte_fallback"] = False
    tokenizer["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    (view / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    return view


def convert_model(model_dir: Path, outfile: Path, outtype: str = "f16") -> Path:
    """Hugging Face directory → GGUF with llama.cpp's converter (f32/f16/bf16/q8_0)."""
    outfile.parent.mkdir(parents=True, exist_ok=True)
    source = byte_level_view(model_dir, outfile.parent / f".{outfile.name}.view")
    try:
        run(
            [sys.executable, str(converter_script()), str(source), "--outfile", str(outfile), "--outtype", outtype],
            f"convert_hf_to_gguf.py on {model_dir}",
        )
    finally:
        if source != model_dir:
            shutil.rmtree(source.parent, ignore_errors=True)
    return outfile
