"""One quantization run end to end: checks, calibration data, quantization, report.

Used by ``largeforge quant awq|gptq`` and the benchmark; every cheap check runs before the
model is loaded, so bad input fails in seconds with one line.
"""

from __future__ import annotations

import time
from pathlib import Path

from largeforge_quant.base import Progress
from largeforge_quant.calibration import describe_source, load_calibration_split
from largeforge_quant.config import QuantizationConfig
from largeforge_quant.factory import get_quantizer
from largeforge_quant.report import QuantizationReport, build_report


def run_quantization(
    model: str,
    output: str | Path,
    config: QuantizationConfig,
    *,
    eval_samples: int = 40,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> QuantizationReport:
    """Quantize ``model`` into ``output`` with ``config`` and return (and save) the report.

    ``eval_samples`` rows of the calibration source that were not used for calibration measure
    held-out perplexity before and after (0 skips it).
    """
    from transformers import AutoTokenizer

    say = progress or (lambda _msg: None)
    quantizer = get_quantizer(config.method)(model, config=config)
    out = quantizer.check_ready(output, overwrite)
    cfg = quantizer.config
    say(f"reading calibration data from {describe_source(cfg.calibration)}")
    tokenizer = AutoTokenizer.from_pretrained(quantizer.model_path)
    split = load_calibration_split(
        cfg.calibration,
        tokenizer,
        num_samples=cfg.num_samples,
        num_heldout=eval_samples,
        seq_length=cfg.seq_length,
        seed=cfg.seed,
    )
    start = time.perf_counter()
    quantizer.quantize(split.texts, out, overwrite=overwrite, progress=say)
    seconds = time.perf_counter() - start
    if split.heldout:
        say(f"measuring perplexity on {len(split.heldout)} held-out samples")
    report = build_report(
        quantizer.model_path,
        out,
        method=cfg.method,
        scheme=cfg.merged(group_size=quantizer.group_size).label,
        base_model=model,
        calibration_source=describe_source(split.source),
        calibration_samples=len(split.texts),
        seconds=seconds,
        heldout=split.heldout,
        max_length=cfg.seq_length,
    )
    report.save()
    return report
