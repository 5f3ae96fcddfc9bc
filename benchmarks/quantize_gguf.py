"""GGUF types against the f16 GGUF of the same model, in one run, on the embedded SmolLM2-135M.

The held-out set is the one of ``benchmarks/quantize.py``: ``--heldout`` Alpaca rows of
``../shared/data/real/alpaca_en_demo.json`` (seed 0, after its ``--samples`` calibration rows),
answers scored with their prompts as context. ``q4_k_m`` is made end to end by ``largeforge quant
gguf``'s own code with its defaults (an importance matrix from the conversations LargeForge ships,
IQ4_NL where rows are not a multiple of 256, a Q5_1 tied output); beside it, llama.cpp's stock
Q4_K_M mix without an importance matrix, and the other ``--types`` on one f16 file (the same
recipe and builtin importance matrix where ``quant gguf`` would use them). Perplexity is
llama.cpp's, and each file is asked "What is the capital of France?" through llama.cpp (its chat
template, greedy). Writes ``benchmarks/results/quantize_gguf.json``.

    python benchmarks/quantize_gguf.py [--types q8_0,q5_k_m] [--heldout 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results" / "quantize_gguf.json"
ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "alpaca_en_demo.json"
QUESTION = "What is the capital of France?"


def answer(path: Path) -> str:
    """Greedy answer of the GGUF model at ``path`` to the France question (its chat template)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, verbose=False, n_threads=1)
    try:
        out = llm.create_chat_completion([{"role": "user", "content": QUESTION}], max_tokens=24, temperature=0)
        return str(out["choices"][0]["message"]["content"]).strip()  # type: ignore[index]
    finally:
        llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--types", default="q8_0,q5_k_m")
    parser.add_argument("--samples", type=int, default=128, help="Rows skipped as quantize.py's calibration.")
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--seq-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_quant.calibration import load_calibration_split
    from largeforge_quant.gguf import (
        IMATRIX_TYPES,
        GGUFQuantizer,
        compute_imatrix,
        convert_model,
        gguf_perplexity,
        quantize_file,
        row_fallback_types,
        row_output_type,
        tensor_type_counts,
    )

    base = resolve_model(args.model)
    split = load_calibration_split(
        str(ALPACA),
        AutoTokenizer.from_pretrained(base),
        num_samples=args.samples,
        num_heldout=args.heldout,
        seq_length=args.seq_length,
        seed=0,
    )
    results: dict[str, Any] = {
        "benchmark": "quantize_gguf",
        "model": args.model,
        "load_average_start": os.getloadavg(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "settings": {"heldout_samples": len(split.heldout), "seq_length": args.seq_length, "threads": args.threads},
        "types": {},
    }

    def record(name: str, out: Path, seconds: float, f16_ppl: float, f16_bytes: int, **extra: Any) -> None:
        ppl = gguf_perplexity(out, split.heldout, args.seq_length, args.threads)
        reply = answer(out)
        results["types"][name] = {
            "bytes": out.stat().st_size,
            "size_ratio_vs_f16": round(out.stat().st_size / f16_bytes, 4),
            "quantize_seconds": round(seconds, 1),
            "perplexity": round(ppl, 4),
            "perplexity_ratio_vs_f16": round(ppl / f16_ppl, 4),
            "answer": reply,
            "answers_paris": "Paris" in reply,
            "tensor_types": tensor_type_counts(out),
            **extra,
        }
        print(name, results["types"][name], flush=True)

    with tempfile.TemporaryDirectory(prefix="lf-gguf-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        f16 = convert_model(Path(base), work / "f16.gguf", "f16")
        f16_seconds = time.perf_counter() - start
        f16_ppl = gguf_perplexity(f16, split.heldout, args.seq_length, args.threads)
        f16_bytes = f16.stat().st_size
        results["types"]["f16"] = {
            "bytes": f16_bytes,
            "seconds": round(f16_seconds, 1),
            "perplexity": round(f16_ppl, 4),
            "answer": answer(f16),
        }
        print("f16", results["types"]["f16"], flush=True)

        # The product: `largeforge quant gguf --type q4_k_m` (no --calibration), end to end.
        start = time.perf_counter()
        report = GGUFQuantizer(args.model, type="q4_k_m", threads=args.threads, eval_samples=0).quantize(
            [], work / "q4_k_m.gguf"
        )
        record(
            "q4_k_m",
            work / "q4_k_m.gguf",
            time.perf_counter() - start,
            f16_ppl,
            f16_bytes,
            recipe="largeforge quant gguf --type q4_k_m (defaults)",
            report={k: report.extra[k] for k in report.extra if k != "tensor_types"},
        )

        start = time.perf_counter()
        stock = quantize_file(f16, work / "stock.gguf", "q4_k_m", args.threads)
        record(
            "q4_k_m_llama.cpp_stock",
            stock,
            time.perf_counter() - start,
            f16_ppl,
            f16_bytes,
            recipe="llama-quantize f16.gguf Q4_K_M (no imatrix, llama.cpp's fallbacks)",
        )

        imatrix = None
        for gguf_type in [t for t in args.types.split(",") if t]:
            start = time.perf_counter()
            if gguf_type in IMATRIX_TYPES and imatrix is None:
                texts, tokens, _ = GGUFQuantizer(args.model, type=gguf_type).calibration_texts([])
                imatrix = compute_imatrix(f16, texts, work / "imatrix.gguf", tokens=tokens, threads=args.threads)
            out = quantize_file(
                f16,
                work / f"{gguf_type}.gguf",
                gguf_type,
                args.threads,
                output_tensor_type=row_output_type(f16, gguf_type),
                imatrix=imatrix if gguf_type in IMATRIX_TYPES else None,
                tensor_types=row_fallback_types(f16, gguf_type),
            )
            record(
                gguf_type,
                out,
                time.perf_counter() - start,
                f16_ppl,
                f16_bytes,
                imatrix="builtin" if gguf_type in IMATRIX_TYPES else None,
            )
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
