"""GGUF export for CPUs: llama.cpp's own converter and quantizer, not a hand-written writer.

``convert_hf_to_gguf.py`` (from the llama.cpp tree vendored in llama-cpp-python's source
distribution, put beside LargeForge by ``scripts/install_llamacpp.sh``) turns a Hugging Face
model directory into an f16 GGUF; ``llama_cpp.llama_model_quantize`` turns that into the asked
type (q8_0, q4_k_m, q5_k_m, …). The report compares the file with the f16 GGUF and, on held-out
texts, the perplexity llama.cpp itself computes for both.

Types of 5 bits or fewer get llama.cpp's importance matrix by default (``llama-imatrix`` on
calibration text, then ``llama-quantize --imatrix``): the ``--calibration`` source, the texts the
caller passes, or the chat conversations shipped in ``data/calibration_chat.jsonl``, rendered with
the model's chat template. Where those binaries are missing, the file is made without one (a
one-line warning says how to get them).

LoRA adapters go through ``convert_lora_to_gguf.py``: one GGUF adapter per expert, applied per
request on one base model by the ``llamacpp`` backend.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.errors import ConfigError, LargeForgeError
from largeforge.models.paths import llama_cpp_home
from largeforge.utils.io import save_json
from largeforge.utils.llamacpp import repack_args, weight_repacking
from largeforge.utils.logging import get_logger
from largeforge_quant.base import Progress, check_output_path
from largeforge_quant.calibration import Sample

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = get_logger(__name__)

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
REPORT_SUFFIX = ".report.json"
SETUP_HINT = "run `bash scripts/install_llamacpp.sh` (or set LARGEFORGE_LLAMA_CPP_DIR to a llama.cpp checkout)"
BINDINGS_HINT = "pip install 'largeforge-quant[gguf]' (llama-cpp-python)"


class GGUFExportError(LargeForgeError):
    """llama.cpp's converter or quantizer failed; the message ends with its last output lines."""


def check_type(gguf_type: str) -> str:
    """``gguf_type`` lower-cased, or a ConfigError listing the types there are."""
    name = gguf_type.lower()
    if name not in GGUF_TYPES:
        raise ConfigError(
            f"--type {gguf_type!r} is not a GGUF type LargeForge makes; use one of: {', '.join(GGUF_TYPES)}"
        )
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
        _run(
            [sys.executable, str(converter_script()), str(source), "--outfile", str(outfile), "--outtype", outtype],
            f"convert_hf_to_gguf.py on {model_dir}",
        )
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


#: ``--type``s of 5 bits a weight or fewer: llama.cpp quantizes them better with an importance matrix.
IMATRIX_TYPES = frozenset({"q5_k_m", "q5_k_s", "q5_0", "q5_1", "q4_k_m", "q4_k_s", "q4_0", "q4_1", "q3_k_m", "q2_k"})
#: Chat conversations LargeForge ships to calibrate the importance matrix when nothing else is given.
BUILTIN_CALIBRATION = Path(__file__).with_name("data") / "calibration_chat.jsonl"
TOOLS_HINT = "run `bash scripts/install_llamacpp.sh` to build llama.cpp's llama-imatrix and llama-quantize"


def find_tool(name: str) -> Path | None:
    """llama.cpp's ``name`` binary (``llama-quantize``, ``llama-imatrix``): the one
    install_llamacpp.sh built (or ``build/bin`` of a ``LARGEFORGE_LLAMA_CPP_DIR`` checkout), then PATH."""
    for candidate in (llama_cpp_home() / "bin" / name, llama_cpp_home() / "build" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


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
    _run(
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
        _run(
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


_repack_lock = threading.Lock()


@contextmanager
def _repacking(llama_cpp: Any, enabled: bool) -> Iterator[None]:
    """Load models with weight repacking ``enabled`` (see :mod:`largeforge.utils.llamacpp`).
    ``Llama`` has no argument for it, so its default model parameters are wrapped meanwhile."""
    if enabled:
        yield
        return
    raw = llama_cpp.llama_cpp
    with _repack_lock:
        defaults = raw.llama_model_default_params

        def without_repacking() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        raw.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            raw.llama_model_default_params = defaults


def gguf_perplexity(path: Path, samples: list[Sample], max_length: int = 512, threads: int | None = None) -> float:
    """Perplexity llama.cpp computes for ``path`` on the completions of ``samples`` (the
    prompt is context, not scored), as ``largeforge quant``'s report does for GPTQ/AWQ."""
    import numpy as np

    llama_cpp = import_llama_cpp()
    with _repacking(llama_cpp, weight_repacking()):
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=max_length + 8,
            n_batch=max_length + 8,
            logits_all=True,
            verbose=False,
            n_threads=threads or max(1, (os.cpu_count() or 2) // 2),
        )
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
            logits = np.asarray(llm.scores[context - 1 : len(ids) - 1], dtype=np.float64)
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


def tensor_type_counts(path: Path) -> dict[str, int]:
    """How many tensors of ``path`` have each GGML type (``{"IQ4_NL": 150, "Q4_K": 18, …}``)."""
    from collections import Counter

    from gguf import GGUFReader

    return dict(Counter(t.tensor_type.name for t in GGUFReader(path).tensors).most_common())


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
    ``type`` (default ``q4_k_m``), ``imatrix`` (``auto``: an importance matrix for types of 5 bits
    or fewer when llama.cpp's tools are built; ``none``; or an imatrix file), ``eval_samples``
    (held-out texts for the perplexity check), ``seq_length``, ``threads`` and the per-tensor
    types of llama-quantize. ``quantize`` takes the calibration texts; see there.
    """

    method: ClassVar[str] = "gguf"

    def __init__(
        self,
        model_path: str | Path,
        bits: int | None = None,
        *,
        type: str = "q4_k_m",
        imatrix: str | Path = "auto",
        eval_samples: int = 40,
        seq_length: int = 512,
        threads: int | None = None,
        output_tensor_type: str | None = None,
        token_embedding_type: str | None = None,
        **options: Any,
    ) -> None:
        from largeforge.models import resolve_model

        if options:
            raise ConfigError(
                f"quantize gguf: unknown option(s) {', '.join(sorted(options))}; known: type, imatrix, "
                f"eval_samples, seq_length, threads, output_tensor_type, token_embedding_type"
            )
        self.output_tensor_type = check_tensor_type(output_tensor_type, "output_tensor_type")
        self.token_embedding_type = check_tensor_type(token_embedding_type, "token_embedding_type")
        if bits is not None and bits != 4 and type == "q4_k_m":
            raise ConfigError("quantize gguf takes `type` (q8_0, q5_k_m, q4_k_m, …), not `bits`")
        self.gguf_type = check_type(type)
        self.imatrix = str(imatrix)
        self._warned = False
        self.eval_samples = eval_samples
        self.seq_length = seq_length
        self.threads = threads
        self.model_ref = str(model_path)
        self.model_path = resolve_model(model_path)

    def imatrix_plan(self) -> str | Path | None:
        """What the importance matrix will be: ``"compute"``, a given file, or None (without one;
        ``auto`` says why in one warning line when llama.cpp's tools are missing)."""
        if self.gguf_type in CONVERTER_TYPES or self.imatrix.lower() == "none":
            return None
        if self.imatrix.lower() != "auto":
            path = Path(self.imatrix).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"--imatrix {self.imatrix}: no such file (an imatrix from llama-imatrix, or auto, or none)"
                )
            if find_tool("llama-quantize") is None:
                raise ConfigError(f"--imatrix {path} needs llama.cpp's llama-quantize: {TOOLS_HINT}")
            return path
        if self.gguf_type not in IMATRIX_TYPES:
            return None
        missing = [t for t in ("llama-imatrix", "llama-quantize") if find_tool(t) is None]
        if missing:
            if self._warned:
                return None
            self._warned = True  # checked before work and again at it: say it once
            logger.warning(
                "GGUF %s without an importance matrix: %s not found (%s)",
                self.gguf_type,
                " and ".join(missing),
                TOOLS_HINT,
            )
            return None
        return "compute"

    def check_ready(self, output_path: str | Path, overwrite: bool = False) -> Path:
        """Cheap checks before any work: the tools exist and the output is free. Returns the file."""
        converter_script()
        if self.eval_samples or (self.gguf_type not in CONVERTER_TYPES and find_tool("llama-quantize") is None):
            import_llama_cpp()
        if not (Path(self.model_path) / "config.json").is_file():
            raise ConfigError(
                f"--model {self.model_ref}: {self.model_path} has no config.json "
                f"(a Hugging Face model directory is needed)"
            )
        self.imatrix_plan()
        target = gguf_output_file(output_path)
        if target.exists() and not overwrite:
            raise ConfigError(f"output {target} already exists: choose another path or pass --overwrite")
        if target.parent != Path(output_path).expanduser().parent:  # a directory output
            check_output_path(target.parent, overwrite)
        return target

    def calibration_texts(self, texts: list[str]) -> tuple[list[str], int, str]:
        """(texts, their token count, where they came from) for the importance matrix: ``texts``,
        or the conversations LargeForge ships, in the model's chat template, when there are none."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        source = "given texts"
        if not texts:
            from largeforge_quant.calibration import load_samples

            texts, source = [s.text for s in load_samples(str(BUILTIN_CALIBRATION), tokenizer)], "builtin"
        tokens = sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)
        return texts, tokens, source

    def quantize(
        self,
        calibration_data: list[str] | list[Sample],
        output_path: str | Path,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
        heldout: list[Sample] | None = None,
    ) -> GGUFReport:
        """Export to ``output_path`` (a ``.gguf`` file, or a directory that gets ``model.gguf``).

        ``heldout`` texts measure perplexity and ``calibration_data`` calibrates the importance
        matrix; without ``heldout``, the first ``eval_samples`` of ``calibration_data`` are held
        out and the rest calibrate. No calibration text left: LargeForge's builtin conversations.
        """
        say = progress or (lambda _msg: None)
        target = self.check_ready(output_path, overwrite)
        rows = [s if isinstance(s, Sample) else Sample("", s) for s in calibration_data]
        if heldout is None:
            heldout, rows = rows[: self.eval_samples], rows[self.eval_samples :]
        heldout = heldout[: self.eval_samples]
        plan = self.imatrix_plan()
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        work = target.with_name(target.name + ".partial")
        work.mkdir(parents=True, exist_ok=True)
        imatrix_info: dict[str, Any] = {"imatrix": None}
        try:
            say(f"converting {self.model_ref} to an f16 GGUF (llama.cpp's convert_hf_to_gguf.py)")
            f16 = convert_model(Path(self.model_path), work / "f16.gguf", "f16")
            if self.gguf_type == "f16":
                result = f16
            elif self.gguf_type in CONVERTER_TYPES:
                result = convert_model(Path(self.model_path), work / "out.gguf", self.gguf_type)
            else:
                imatrix = plan if isinstance(plan, Path) else None
                if plan == "compute":
                    texts, tokens, source = self.calibration_texts([s.text for s in rows])
                    say(f"importance matrix on {len(texts)} calibration texts ({tokens} tokens, llama-imatrix)")
                    begin = time.perf_counter()
                    imatrix = compute_imatrix(
                        f16, texts, work / "imatrix.gguf", tokens=tokens, threads=self.threads, ctx=self.seq_length
                    )
                    imatrix_info = {
                        "imatrix": "computed",
                        "calibration": source,
                        "calibration_texts": len(texts),
                        "calibration_tokens": tokens,
                        "imatrix_seconds": round(time.perf_counter() - begin, 1),
                    }
                elif imatrix is not None:
                    imatrix_info = {"imatrix": str(imatrix)}
                tensor_types = row_fallback_types(f16, self.gguf_type)
                output_type = self.output_tensor_type or row_output_type(f16, self.gguf_type)
                say(f"quantizing to {self.gguf_type}")
                result = quantize_file(
                    f16,
                    work / "out.gguf",
                    self.gguf_type,
                    self.threads,
                    output_tensor_type=output_type,
                    token_embedding_type=self.token_embedding_type,
                    imatrix=imatrix,
                    tensor_types=tensor_types,
                )
                imatrix_info.update(output_tensor_type=output_type, row_fallbacks=len(tensor_types))
            seconds = time.perf_counter() - start
            report = GGUFReport(
                method="gguf",
                gguf_type=self.gguf_type,
                base_model=self.model_ref,
                output=str(target),
                seconds=round(seconds, 1),
                f16_bytes=f16.stat().st_size,
                output_bytes=result.stat().st_size,
                size_ratio=round(result.stat().st_size / f16.stat().st_size, 4),
                extra={
                    "output_tensor_type": self.output_tensor_type,
                    "token_embedding_type": self.token_embedding_type,
                    **imatrix_info,
                    "tensor_types": tensor_type_counts(result),
                },
            )
            if heldout:
                say(f"measuring perplexity on {len(heldout)} held-out texts (f16 and {self.gguf_type})")
                report.heldout_samples = len(heldout)
                report.perplexity_f16 = round(gguf_perplexity(f16, heldout, self.seq_length, self.threads), 4)
                report.perplexity_after = (
                    report.perplexity_f16
                    if result == f16
                    else round(gguf_perplexity(result, heldout, self.seq_length, self.threads), 4)
                )
                report.perplexity_ratio = round(report.perplexity_after / report.perplexity_f16, 4)
            os.replace(result, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report.save()
        return report


def convert_adapter(
    adapter_dir: str | Path,
    output: str | Path,
    *,
    base: str | Path | None = None,
    outtype: str = "f16",
    overwrite: bool = False,
) -> Path:
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
    _run(
        [
            sys.executable,
            str(converter_script("convert_lora_to_gguf.py")),
            str(adapter),
            "--outfile",
            str(partial),
            "--outtype",
            outtype,
            "--base",
            str(base_dir),
        ],
        f"convert_lora_to_gguf.py on {adapter}",
    )
    os.replace(partial, target)
    return target
