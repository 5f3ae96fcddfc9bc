"""Quantizing an f16 GGUF: llama.cpp's types, its importance matrix, LargeForge's row recipe,
and ``llama-quantize`` (or the bindings' ``llama_model_quantize`` where it is not built)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from largeforge.errors import ConfigError
from largeforge.models.paths import llama_cpp_home
from largeforge.utils.llamacpp import repack_args
from largeforge_quant.gguf.toolchain import TOOLS_HINT, GGUFExportError, find_tool, import_llama_cpp, run

#: ``--type`` → llama.cpp's ``LLAMA_FTYPE_*`` name. f16/bf16/f32/q8_0 come straight from the converter.
GGUF_TYPES = {
    "f32": "ALL_F32",
    "f16": "MOSTLY_F16",
    "bf16": "MOSTLY_BF16",
    "q8_0": "MOSTLY_Q8_0",
    "q6_k": "MOSTLY_Q6_K",
    "q5_k_m": "MOSTLY_Q5_K_M",
    "q5_k_s": "MOSTLY_Q5_K_S",
    "q5_0": "MOSTLY_Q5_0",
    "q5_1": "MOSTLY_Q5_1",
    "q4_k_m": "MOSTLY_Q4_K_M",
    "q4_k_s": "MOSTLY_Q4_K_S",
    "q4_0": "MOSTLY_Q4_0",
    "q4_1": "MOSTLY_Q4_1",
    "q3_k_m": "MOSTLY_Q3_K_M",
    "q2_k": "MOSTLY_Q2_K",
}
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")


def check_type(gguf_type: str) -> str:
    """``gguf_type`` lower-cased, or a ConfigError listing the types there are."""
    name = gguf_type.lower()
    if name not in GGUF_TYPES:
        raise ConfigError(
            f"--type {gguf_type!r} is not a GGUF type LargeForge makes; use one of: {', '.join(GGUF_TYPES)}"
        )
    return name


#: Tensor types ``--output-tensor-type`` / ``--token-embedding-type`` take (llama-quantize's options).
TENSOR_TYPES = ("f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k", "q4_1", "q4_0")


def check_tensor_type(value: str | None, option: str) -> str | None:
    """``value`` lower-cased (None stays None), or a ConfigError listing the tensor types."""
    if value is None:
        return None
    if value.lower() not in TENSOR_TYPES:
        raise ConfigError(f"{option} {value!r} is not a tensor type; use one of: {', '.join(TENSOR_TYPES)}")
    return value.lower()


#: ``--type``s of 5 bits a weight or fewer: llama.cpp quantizes them better with an importance matrix.
IMATRIX_TYPES = frozenset({"q5_k_m", "q5_k_s", "q5_0", "q5_1", "q4_k_m", "q4_k_s", "q4_0", "q4_1", "q3_k_m", "q2_k"})
#: Chat conversations LargeForge ships to calibrate the importance matrix when nothing else is given.
BUILTIN_CALIBRATION = Path(__file__).parent.parent / "data" / "calibration_chat.jsonl"


def compute_imatrix(
    f16: Path, texts: list[str], outfile: Path, *, tokens: int, threads: int | None = None, ctx: int = 512
) -> Path:
    """llama.cpp's importance matrix of ``f16`` over ``texts`` (about ``tokens`` tokens in all), by
    ``llama-imatrix``. Chat special tokens are parsed as the model sees them; the context shrinks
    to fit short calibration sets (llama-imatrix wants at least two chunks)."""
    tool = find_tool("llama-imatrix")
    if tool is None:
        raise ConfigError(f"llama.cpp's llama-imatrix was not found in {llama_cpp_home()}: {TOOLS_HINT}")
    ctx = max(16, min(ctx, tokens // 2))
    corpus = outfile.with_suffix(".txt")
    corpus.write_text("\n\n".join(texts), encoding="utf-8")
    run(
        [
            str(tool),
            "-m",
            str(f16),
            "-f",
            str(corpus),
            "-o",
            str(outfile),
            "-c",
            str(ctx),
            "-t",
            str(threads or os.cpu_count() or 1),
            "--parse-special",
            "--no-ppl",
            "-ofreq",
            "1000000",
            *repack_args(),
        ],
        f"llama-imatrix on {f16.name}",
    )
    if not outfile.is_file():
        raise GGUFExportError(f"llama-imatrix wrote no {outfile}")
    return outfile


#: The 4-bit K mixes LargeForge's row recipe applies to (measured on SmolLM2-135M: README, GGUF).
ROW_RECIPE_TYPES = frozenset({"q4_k_m", "q4_k_s"})
#: A k-quant needs rows that are a multiple of 256 weights; where they are not (SmolLM2: 576),
#: llama.cpp falls back to a 32-block type with a bit more: Q4_K (4.5 bits) → Q5_0 (5.5). The
#: recipe takes the 32-block type of the same 4.5 bits instead, IQ4_NL (llama.cpp's own fallback
#: for IQ4_XS), which an importance matrix quantizes well.
ROW_FALLBACKS = {"q4_K": "iq4_nl"}
#: For the same reason the output (or tied embedding) tensor cannot be Q6_K (6.56 bits) and
#: llama.cpp makes it Q8_0 (8.5); the recipe takes Q5_1 (6.0), the 32-block type nearest Q6_K.
ROW_OUTPUT_TYPE = "q5_1"
_FALLBACK_LINE = re.compile(
    r"warning: (\S+)\s+- ncols\s+\d+ not divisible by\s+\d+ \(required for type\s+(\w+)\)\s*"
    r"(?:\(WARNING[^)]*\)\s*)?-> falling back to\s+(\w+)"
)


def row_fallback_types(f16: Path, gguf_type: str) -> dict[str, str]:
    """``--tensor-type`` choices of the row recipe for ``gguf_type``: every tensor llama.cpp's own
    ``gguf_type`` mix gives a k-quant its rows cannot hold (``llama-quantize --dry-run`` says
    which) is pinned to its fallback, except that a Q4_K fallback becomes the same-bits type of
    :data:`ROW_FALLBACKS`. Pinning them all keeps the rest of the mix as llama.cpp chose it: a
    tensor with a manual type skips llama.cpp's per-layer counters (``attn_v``), so pinning only
    some would shift which layers get more bits. Empty when there is nothing to change."""
    tool = find_tool("llama-quantize")
    if tool is None or gguf_type not in ROW_RECIPE_TYPES:
        return {}
    done = subprocess.run([str(tool), "--dry-run", str(f16), gguf_type.upper(), "1"], capture_output=True, text=True)
    if done.returncode != 0:
        raise GGUFExportError(f"llama-quantize --dry-run {f16.name} failed (exit {done.returncode})")
    types = {}
    for match in _FALLBACK_LINE.finditer(done.stdout + done.stderr):
        name, wanted, fallback = match.groups()
        types[f"^{re.escape(name)}$"] = ROW_FALLBACKS.get(wanted, fallback.lower())
    if not any(t in ROW_FALLBACKS.values() for t in types.values()):
        return {}
    return types


def row_output_type(f16: Path, gguf_type: str) -> str | None:
    """:data:`ROW_OUTPUT_TYPE` when ``gguf_type`` takes the row recipe and the output (or tied
    embedding) tensor's rows are not a multiple of 256, else None (llama.cpp's choice)."""
    if gguf_type not in ROW_RECIPE_TYPES or find_tool("llama-quantize") is None:
        return None
    from gguf import GGUFReader

    shapes = {
        t.name: int(t.shape[0]) for t in GGUFReader(f16).tensors if t.name in ("output.weight", "token_embd.weight")
    }
    width = shapes.get("output.weight", shapes.get("token_embd.weight", 0))
    return ROW_OUTPUT_TYPE if width % 256 else None


def quantize_file(
    source: Path,
    outfile: Path,
    gguf_type: str,
    threads: int | None = None,
    *,
    output_tensor_type: str | None = None,
    token_embedding_type: str | None = None,
    imatrix: Path | None = None,
    tensor_types: dict[str, str] | None = None,
) -> Path:
    """An f16/f32 GGUF → ``gguf_type``, by llama.cpp's ``llama-quantize`` when it is built (it takes an
    importance matrix and per-tensor types: ``tensor_types`` maps a tensor-name regex to a type),
    else by ``llama_model_quantize``. The output (or tied embedding) and token-embedding tensors
    may get their own type, as llama-quantize allows."""
    tool = find_tool("llama-quantize")
    if tool is not None:
        command = [str(tool)]
        for option, value in (
            ("--imatrix", imatrix),
            ("--output-tensor-type", output_tensor_type),
            ("--token-embedding-type", token_embedding_type),
        ):
            if value:
                command += [option, str(value)]
        for pattern, tensor_type in (tensor_types or {}).items():
            command += ["--tensor-type", f"{pattern}={tensor_type}"]
        run(
            [*command, str(source), str(outfile), gguf_type.upper(), str(threads or os.cpu_count() or 1)],
            f"llama-quantize {source.name} → {gguf_type}",
        )
        if not outfile.is_file():
            raise GGUFExportError(f"llama-quantize {source} → {gguf_type} wrote no file")
        return outfile
    if imatrix or tensor_types:
        raise ConfigError(f"an importance matrix and per-tensor types need llama.cpp's llama-quantize: {TOOLS_HINT}")
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_{GGUF_TYPES[gguf_type]}")
    params.nthread = threads or (os.cpu_count() or 1)
    if output_tensor_type:
        params.output_tensor_type = getattr(llama_cpp, f"GGML_TYPE_{output_tensor_type.upper()}")
    if token_embedding_type:
        params.token_embedding_type = getattr(llama_cpp, f"GGML_TYPE_{token_embedding_type.upper()}")
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(outfile).encode(), params)
    if code != 0 or not outfile.is_file():
        raise GGUFExportError(f"llama_model_quantize {source} → {gguf_type} failed (code {code})")
    return outfile
