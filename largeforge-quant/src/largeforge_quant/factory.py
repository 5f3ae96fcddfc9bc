"""The unified interface (spec 6.4): ``quantize`` by a registered method (``load_quantized`` and
``get_quantization_config`` read its output: :mod:`largeforge_quant.loading`)."""

from __future__ import annotations

import importlib.util
from typing import Any

from largeforge_quant.base import LLMCompressorQuantizer, Progress
from largeforge_quant.config import QuantizationConfig

#: Whether AWQ / GPTQ can run here (both need llm-compressor; checked without importing it).
AWQ_AVAILABLE = importlib.util.find_spec("llmcompressor") is not None
GPTQ_AVAILABLE = AWQ_AVAILABLE


def get_quantizer(method: str) -> type[LLMCompressorQuantizer]:
    """The quantizer class registered under ``method`` (``awq``, ``gptq`` or a plugin's)."""
    from largeforge.plugins import registries

    return registries().quantizers.get(method)  # type: ignore[no-any-return]


def quantize(
    model_path: str,
    output_path: str,
    method: str = "awq",
    bits: int = 4,
    calibration_data: list[str] | None = None,
    *,
    config: QuantizationConfig | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **options: Any,
) -> str:
    """Quantize ``model_path`` with ``method`` into ``output_path`` and return that path.

    Without ``calibration_data``, samples come from ``config.calibration`` (a file, a saved
    dataset, or a dataset name present locally); nothing is downloaded.
    """
    cls = get_quantizer(method)
    quantizer = cls(model_path, bits=bits, config=config, **options)
    if calibration_data is None:
        from transformers import AutoTokenizer

        from largeforge_quant.calibration import load_calibration_split

        quantizer.check_ready(output_path, overwrite)  # fail fast, before reading any data
        cfg = quantizer.config
        tokenizer = AutoTokenizer.from_pretrained(quantizer.model_path)
        calibration_data = load_calibration_split(
            cfg.calibration, tokenizer, num_samples=cfg.num_samples, seq_length=cfg.seq_length, seed=cfg.seed
        ).texts
    return str(quantizer.quantize(calibration_data, output_path, overwrite=overwrite, progress=progress))
