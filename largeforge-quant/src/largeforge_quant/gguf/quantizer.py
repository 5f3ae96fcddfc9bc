"""``largeforge quant gguf``: the GGUF quantizer and its report."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from largeforge.errors import ConfigError
from largeforge.utils.io import save_json
from largeforge.utils.logging import get_logger
from largeforge_quant.base import Progress, check_output_path
from largeforge_quant.calibration import Sample
from largeforge_quant.gguf.adapter import convert_adapter
from largeforge_quant.gguf.convert import convert_model, gguf_output_file
from largeforge_quant.gguf.perplexity import gguf_perplexity, tensor_type_counts
from largeforge_quant.gguf.recipe import (
    BUILTIN_CALIBRATION,
    CONVERTER_TYPES,
    IMATRIX_TYPES,
    check_tensor_type,
    check_type,
    compute_imatrix,
    quantize_file,
    row_fallback_types,
    row_output_type,
)
from largeforge_quant.gguf.toolchain import TOOLS_HINT, converter_script, find_tool, import_llama_cpp

logger = get_logger(__name__)

REPORT_SUFFIX = ".report.json"


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
    #: PEFT LoRA adapter → GGUF LoRA adapter (:func:`largeforge_quant.gguf.adapter.convert_adapter`),
    #: for callers that reach the quantizer through the core's registry (the llamacpp backend).
    convert_adapter = staticmethod(convert_adapter)

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
