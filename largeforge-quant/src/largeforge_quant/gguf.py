"""GGUF export for CPUs: llama.cpp's own converter and quantizer, not a hand-written writer.

``convert_hf_to_gguf.py`` (from the llama.cpp tree vendored in llama-cpp-python's source
distribution, put beside LargeForge by ``scripts/install_llamacpp.sh``) turns a Hugging Face
model directory into an f16 GGUF; ``llama_cpp.llama_model_quantize`` turns that into the asked
type (q8_0, q4_k_m, q5_k_m, …). The report compares the file with the f16 GGUF and, on held-out
texts, the perplexity llama.cpp itself computes for both.

LoRA adapters go through ``convert_lora_to_gguf.py``: one GGUF adapter per expert, applied per
request on one base model by the ``llamacpp`` backend.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from largeforge.errors import ConfigError, LargeForgeError
from largeforge.models.paths import llama_cpp_home
from largeforge.utils.io import save_json
from largeforge.utils.logging import get_logger
from largeforge_quant.base import Progress, check_output_path
from largeforge_quant.calibration import Sample

logger = get_logger(__name__)

#: ``--type`` → llama.cpp's ``LLAMA_FTYPE_*`` name. f16/bf16/f32/q8_0 come straight from the converter.
GGUF_TYPES = {
    "f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0",
    "q6_k": "MOSTLY_Q6_K", "q5_k_m": "MOSTLY_Q5_K_M", "q5_k_s": "MOSTLY_Q5_K_S", "q5_0": "MOSTLY_Q5_0",
    "q5_1": "MOSTLY_Q5_1", "q4_k_m": "MOSTLY_Q4_K_M", "q4_k_s": "MOSTLY_Q4_K_S", "q4_0": "MOSTLY_Q4_0",
    "q4_1": "MOSTLY_Q4_1", "q3_k_m": "MOSTLY_Q3_K_M", "q2_k": "MOSTLY_Q2_K",
}
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
REPORT_SUFFIX = ".report.json"
SETUP_HINT = "run `bash scripts/install_llamacpp.sh` (or set LARGEFORGE_LLAMA_CPP_DIR to a llama.cpp checkout)"
BINDINGS_HINT = "pip install 'largeforge-quant[gguf]' (llama-cpp-python)"


class GGUFExportError(LargeForgeError):
    """llama.cpp's converter or quantizer failed; the message ends with its last output lines."""


def check_type(gguf_type: str) -> str:
    """``gguf_type`` lower-cased, or a ConfigError listing the types there are."""
    name = gguf_type.lower()
    if name not in GGUF_TYPES:
        raise ConfigError(f"--type {gguf_type!r} is not a GGUF type LargeForge makes; use one of: "
                          f"{', '.join(GGUF_TYPES)}")
    return name


def converter_script(name: str = "convert_hf_to_gguf.py") -> Path:
    """llama.cpp's converter script, or a ConfigError saying how to get it."""
    path = llama_cpp_home() / name
    if not path.is_file():
        raise ConfigError(f"llama.cpp's {name} was not found in {llama_cpp_home()}: {SETUP_HINT}")
    return path


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` bindings, or a ConfigError naming the extra."""
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError(f"GGUF quantization needs llama.cpp's Python bindings: {BINDINGS_HINT}") from None
    return llama_cpp


def gguf_output_file(output: str | Path) -> Path:
    """``output`` itself when it names a ``.gguf`` file, else ``output/model.gguf``."""
    path = Path(output).expanduser()
    return path if path.suffix == ".gguf" else path / "model.gguf"


def _run(command: list[str], what: str) -> None:
    # The converter puts its own gguf-py first on sys.path unless NO_LOCAL_GGUF is set.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NO_LOCAL_GGUF", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise GGUFExportError(f"{what} failed (exit {done.returncode}):\n{tail}")


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
        _run([sys.executable, str(converter_script()), str(source), "--outfile", str(outfile),
              "--outtype", outtype], f"convert_hf_to_gguf.py on {model_dir}")
    finally:
        if source != model_dir:
            shutil.rmtree(source.parent, ignore_errors=True)
    return outfile


#: Tensor types ``--output-tensor-type`` / ``--token-embedding-type`` take (llama-quantize's options).
TENSOR_TYPES = ("f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k", "q4_1", "q4_0")


def check_tensor_type(value: str | None, option: str) -> str | None:
    """``value`` lower-cased (None stays None), or a ConfigError listing the tensor types."""
    if value is None:
        return None
    if value.lower() not in TENSOR_TYPES:
        raise ConfigError(f"{option} {value!r} is not a tensor type; use one of: {', '.join(TENSOR_TYPES)}")
    return value.lower()


def quantize_file(source: Path, outfile: Path, gguf_type: str, threads: int | None = None, *,
                  output_tensor_type: str | None = None, token_embedding_type: str | None = None) -> Path:
    """An f16/f32 GGUF → ``gguf_type`` with ``llama_model_quantize``; the output (or tied
    embedding) and token-embedding tensors may get their own type, as llama-quantize allows."""
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


def gguf_perplexity(path: Path, samples: list[Sample], max_length: int = 512, threads: int | None = None) -> float:
    """Perplexity llama.cpp computes for ``path`` on the completions of ``samples`` (the
    prompt is context, not scored), as ``largeforge quant``'s report does for GPTQ/AWQ."""
    import numpy as np

    llama_cpp = import_llama_cpp()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=max_length + 8, n_batch=max_length + 8,
                          logits_all=True, verbose=False, n_threads=threads or max(1, (os.cpu_count() or 2) // 2))
    nll, count = 0.0, 0
    try:
        for sample in samples:
            ids = llm.tokenize(sample.text.encode(), add_bos=False, special=True)[:max_length]
            context = len(llm.tokenize(sample.prompt.encode(), add_bos=False, special=True)) if sample.prompt else 0
            context = max(context, 1)
            if len(ids) - context < 1:
                continue
            llm.reset()
            llm.eval(ids)
            logits = np.asarray(llm.scores[context - 1:len(ids) - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
            targets = np.asarray(ids[context:])
            nll += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
            count += len(targets)
    finally:
        llm.close()
    if count == 0:
        raise ValueError("no held-out tokens to score")
    return math.exp(nll / count)


@dataclass
class GGUFReport:
    """What a GGUF export achieved: size and perplexity against the f16 GGUF of the same model."""

    method: str
    gguf_type: str
    base_model: str
    output: str
    seconds: float
    f16_bytes: int
    output_bytes: int
    size_ratio: float
    heldout_samples: int = 0
    perplexity_f16: float | None = None
    perplexity_after: float | None = None
    perplexity_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self) -> Path:
        return save_json(self.to_dict(), Path(self.output + REPORT_SUFFIX))


class GGUFQuantizer:
    """``largeforge quant gguf``: any model LargeForge resolves → one GGUF file of ``gguf_type``.

    Called like every quantizer, ``cls(model_path, bits=None, **options)``; ``options`` take
    ``type`` (default ``q4_k_m``), ``eval_samples`` (held-out texts for the perplexity check,
    taken from the texts ``quantize`` gets: GGUF k-quants need no calibration), ``threads``.
    """

    method: ClassVar[str] = "gguf"

    def __init__(self, model_path: str | Path, bits: int | None = None, *, type: str = "q4_k_m",
                 eval_samples: int = 40, seq_length: int = 512, threads: int | None = None,
                 output_tensor_type: str | None = None, token_embedding_type: str | None = None,
                 **options: Any) -> None:
        from largeforge.models import resolve_model

        if options:
            raise ConfigError(f"quantize gguf: unknown option(s) {', '.join(sorted(options))}; known: type, "
                              f"eval_samples, seq_length, threads, output_tensor_type, token_embedding_type")
        self.output_tensor_type = check_tensor_type(output_tensor_type, "output_tensor_type")
        self.token_embedding_type = check_tensor_type(token_embedding_type, "token_embedding_type")
        if bits is not None and bits != 4 and type == "q4_k_m":
            raise ConfigError("quantize gguf takes `type` (q8_0, q5_k_m, q4_k_m, …), not `bits`")
        self.gguf_type = check_type(type)
        self.eval_samples = eval_samples
        self.seq_length = seq_length
        self.threads = threads
        self.model_ref = str(model_path)
        self.model_path = resolve_model(model_path)

    def check_ready(self, output_path: str | Path, overwrite: bool = False) -> Path:
        """Cheap checks before any work: the tools exist and the output is free. Returns the file."""
        converter_script()
        if self.gguf_type not in CONVERTER_TYPES or self.eval_samples:
            import_llama_cpp()
        if not (Path(self.model_path) / "config.json").is_file():
            raise ConfigError(f"--model {self.model_ref}: {self.model_path} has no config.json "
                              f"(a Hugging Face model directory is needed)")
        target = gguf_output_file(output_path)
        if target.exists() and not overwrite:
            raise ConfigError(f"output {target} already exists: choose another path or pass --overwrite")
        if target.parent != Path(output_path).expanduser().parent:  # a directory output
            check_output_path(target.parent, overwrite)
        return target

    def quantize(self, calibration_data: list[str] | list[Sample], output_path: str | Path, *,
                 overwrite: bool = False, progress: Progress | None = None) -> GGUFReport:
        """Export to ``output_path`` (a ``.gguf`` file, or a directory that gets ``model.gguf``)."""
        say = progress or (lambda _msg: None)
        target = self.check_ready(output_path, overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        work = target.with_name(target.name + ".partial")
        work.mkdir(parents=True, exist_ok=True)
        try:
            say(f"converting {self.model_ref} to an f16 GGUF (llama.cpp's convert_hf_to_gguf.py)")
            f16 = convert_model(Path(self.model_path), work / "f16.gguf", "f16")
            if self.gguf_type == "f16":
                result = f16
            elif self.gguf_type in CONVERTER_TYPES:
                result = convert_model(Path(self.model_path), work / "out.gguf", self.gguf_type)
            else:
                say(f"quantizing to {self.gguf_type} (llama_model_quantize)")
                result = quantize_file(f16, work / "out.gguf", self.gguf_type, self.threads,
                                       output_tensor_type=self.output_tensor_type,
                                       token_embedding_type=self.token_embedding_type)
            seconds = time.perf_counter() - start
            report = GGUFReport(method="gguf", gguf_type=self.gguf_type, base_model=self.model_ref,
                                output=str(target), seconds=round(seconds, 1), f16_bytes=f16.stat().st_size,
                                output_bytes=result.stat().st_size,
                                size_ratio=round(result.stat().st_size / f16.stat().st_size, 4),
                                extra={"output_tensor_type": self.output_tensor_type,
                                       "token_embedding_type": self.token_embedding_type})
            heldout = [s if isinstance(s, Sample) else Sample("", s) for s in calibration_data][: self.eval_samples]
            if heldout:
                say(f"measuring perplexity on {len(heldout)} held-out texts (f16 and {self.gguf_type})")
                report.heldout_samples = len(heldout)
                report.perplexity_f16 = round(gguf_perplexity(f16, heldout, self.seq_length, self.threads), 4)
                report.perplexity_after = (report.perplexity_f16 if result == f16 else round(
                    gguf_perplexity(result, heldout, self.seq_length, self.threads), 4))
                report.perplexity_ratio = round(report.perplexity_after / report.perplexity_f16, 4)
            os.replace(result, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report.save()
        return report


def convert_adapter(adapter_dir: str | Path, output: str | Path, *, base: str | Path | None = None,
                    outtype: str = "f16", overwrite: bool = False) -> Path:
    """A PEFT LoRA adapter directory → a GGUF LoRA adapter (llama.cpp's convert_lora_to_gguf.py).

    ``base`` is the base model (alias, directory, hub id); by default the one the adapter's
    ``adapter_config.json`` names.
    """
    from largeforge.models import resolve_model

    adapter = Path(adapter_dir).expanduser()
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"--adapter {adapter}: no adapter_config.json (a PEFT LoRA adapter directory is needed)")
    if outtype not in ("f32", "f16", "bf16", "q8_0"):
        raise ConfigError(f"a GGUF adapter is f32, f16, bf16 or q8_0, not {outtype!r}")
    base_ref = base or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base_ref:
        raise ConfigError(f"--adapter {adapter}: its adapter_config.json names no base model; pass --base")
    base_dir = resolve_model(str(base_ref))
    target = gguf_output_file(output)
    if target.exists() and not overwrite:
        raise ConfigError(f"output {target} already exists: choose another path or pass --overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _run([sys.executable, str(converter_script("convert_lora_to_gguf.py")), str(adapter), "--outfile",
          str(partial), "--outtype", outtype, "--base", str(base_dir)], f"convert_lora_to_gguf.py on {adapter}")
    os.replace(partial, target)
    return target
