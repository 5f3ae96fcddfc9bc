"""The quantization report: size before and after, held-out perplexity before and after, time.

Sizes are read from the safetensors headers (no weights loaded). "Linear-layer bytes" are the
bytes of the layers that were quantized: their ``weight`` before, and everything stored for
them after (packed weights, scales, zero points, ordering indices). The 16-bit reference is
what those weights take at 2 bytes per parameter, whatever dtype the base checkpoint uses.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from largeforge.utils.io import save_json
from largeforge_quant.calibration import Sample

REPORT_FILE = "quantization_report.json"
_DTYPE_BYTES = {
    "F64": 8,
    "I64": 8,
    "F32": 4,
    "I32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


def safetensors_index(model_dir: str | Path) -> dict[str, tuple[str, list[int]]]:
    """``{tensor name: (dtype, shape)}`` over every ``*.safetensors`` file, from headers only."""
    index: dict[str, tuple[str, list[int]]] = {}
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        with file.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, meta in header.items():
            if name != "__metadata__":
                index[name] = (meta["dtype"], list(meta["shape"]))
    return index


def _nbytes(dtype: str, shape: list[int]) -> int:
    return math.prod(shape) * _DTYPE_BYTES.get(dtype, 4)


def quantized_layers(quant_dir: str | Path) -> list[str]:
    """Module names whose weights were quantized (they carry a ``weight_packed`` tensor)."""
    return sorted(n[: -len(".weight_packed")] for n in safetensors_index(quant_dir) if n.endswith(".weight_packed"))


@dataclass
class SizeStats:
    """Bytes of a model directory: all weight files, and the quantized layers' share."""

    total_bytes: int
    linear_bytes: int
    linear_params: int

    @property
    def linear_bytes_16bit(self) -> int:
        return self.linear_params * 2


def model_size(model_dir: str | Path, layers: list[str]) -> SizeStats:
    """Sizes of ``model_dir``: its safetensors files, and the tensors belonging to ``layers``."""
    index = safetensors_index(model_dir)
    total = sum(f.stat().st_size for f in Path(model_dir).glob("*.safetensors"))
    prefixes = tuple(f"{layer}." for layer in layers)
    linear = params = 0
    for name, (dtype, shape) in index.items():
        if name.startswith(prefixes):
            linear += _nbytes(dtype, shape)
            if name.endswith(".weight"):
                params += math.prod(shape)
    return SizeStats(total, linear, params)


def perplexity(model: Any, tokenizer: Any, samples: list[Sample], max_length: int = 512) -> float:
    """Perplexity on the completions of ``samples`` (prompt tokens are context, not scored)."""
    import torch

    nll, count = 0.0, 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for sample in samples:
            ids = tokenizer.encode(sample.text, add_special_tokens=False)[:max_length]
            context = len(tokenizer.encode(sample.prompt, add_special_tokens=False)) if sample.prompt else 0
            if len(ids) - max(context, 1) < 1:
                continue
            input_ids = torch.tensor([ids], device=device)
            labels = input_ids.clone()
            labels[0, :context] = -100
            scored = int((labels[0, 1:] != -100).sum())
            loss = model(input_ids=input_ids, labels=labels).loss
            nll += float(loss) * scored
            count += scored
    if count == 0:
        raise ValueError("no held-out tokens to score")
    return math.exp(nll / count)


def model_perplexity(
    model_dir: str | Path, samples: list[Sample], max_length: int = 512, quantized: bool = False
) -> float:
    """Load ``model_dir`` (fp32 on CPU) and return its perplexity on ``samples``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge_quant.loading import load_quantized

    if quantized:
        model = load_quantized(model_dir)
    else:
        dtype: Any = "auto" if torch.cuda.is_available() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    try:
        return perplexity(model, tokenizer, samples, max_length)
    finally:
        del model


@dataclass
class QuantizationReport:
    """What a run achieved; ``ratio`` fields are after ÷ before (perplexity) or ÷ 16-bit (size)."""

    method: str
    scheme: str
    base_model: str
    output: str
    calibration_source: str
    calibration_samples: int
    seconds: float
    size_before: dict[str, int]
    size_after: dict[str, int]
    linear_ratio_vs_16bit: float
    total_ratio: float
    heldout_samples: int = 0
    perplexity_before: float | None = None
    perplexity_after: float | None = None
    perplexity_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the report as JSON (default: ``quantization_report.json`` in the output dir)."""
        return save_json(self.to_dict(), Path(path) if path else Path(self.output) / REPORT_FILE)


def build_report(
    base_dir: str | Path,
    quant_dir: str | Path,
    *,
    method: str,
    scheme: str,
    base_model: str,
    calibration_source: str,
    calibration_samples: int,
    seconds: float,
    heldout: list[Sample] | None = None,
    max_length: int = 512,
) -> QuantizationReport:
    """Measure sizes (always) and held-out perplexity (when ``heldout`` rows are given)."""
    layers = quantized_layers(quant_dir)
    before, after = model_size(base_dir, layers), model_size(quant_dir, layers)
    report = QuantizationReport(
        method=method,
        scheme=scheme,
        base_model=base_model,
        output=str(quant_dir),
        calibration_source=calibration_source,
        calibration_samples=calibration_samples,
        seconds=round(seconds, 1),
        size_before={
            "total_bytes": before.total_bytes,
            "linear_bytes": before.linear_bytes,
            "linear_bytes_16bit": before.linear_bytes_16bit,
        },
        size_after={"total_bytes": after.total_bytes, "linear_bytes": after.linear_bytes},
        linear_ratio_vs_16bit=round(after.linear_bytes / max(before.linear_bytes_16bit, 1), 4),
        total_ratio=round(after.total_bytes / max(before.total_bytes, 1), 4),
    )
    if heldout:
        report.heldout_samples = len(heldout)
        report.perplexity_before = round(model_perplexity(base_dir, heldout, max_length), 4)
        report.perplexity_after = round(model_perplexity(quant_dir, heldout, max_length, quantized=True), 4)
        report.perplexity_ratio = round(report.perplexity_after / report.perplexity_before, 4)
    return report


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def render_table(report: QuantizationReport) -> Any:
    """The report as a rich ``Table`` (before / after / ratio)."""
    from rich.table import Table

    table = Table(
        title=f"{report.scheme} — {report.base_model}",
        caption=f"calibration: {report.calibration_samples} samples of {report.calibration_source}",
    )
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("ratio", justify="right")
    b, a = report.size_before, report.size_after
    table.add_row("model files", _mb(b["total_bytes"]), _mb(a["total_bytes"]), f"{report.total_ratio:.2f}×")
    table.add_row(
        "linear layers (vs 16-bit)",
        _mb(b["linear_bytes_16bit"]),
        _mb(a["linear_bytes"]),
        f"{report.linear_ratio_vs_16bit:.2f}×",
    )
    if report.perplexity_before is not None and report.perplexity_after is not None:
        table.add_row(
            f"perplexity ({report.heldout_samples} held-out)",
            f"{report.perplexity_before:.2f}",
            f"{report.perplexity_after:.2f}",
            f"{report.perplexity_ratio:.2f}×",
        )
    table.add_row("time", "", f"{report.seconds:.0f} s", "")
    return table
