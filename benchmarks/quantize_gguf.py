"""GGUF types against the f16 GGUF of the same model, in one run, on the embedded SmolLM2-135M.

The held-out set is the one of ``benchmarks/quantize.py``: ``--heldout`` Alpaca rows of
``../shared/data/real/alpaca_en_demo.json`` (seed 0, after its ``--samples`` calibration rows),
answers scored with their prompts as context. Each type is made by ``largeforge quant gguf``'s
own code (llama.cpp's converter, then ``llama_model_quantize``); perplexity is llama.cpp's, and
each file is asked "What is the capital of France?" through llama.cpp. Writes
``benchmarks/results/quantize_gguf.json``.

    python benchmarks/quantize_gguf.py [--types q8_0,q5_k_m,q4_k_m] [--heldout 40]
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
    parser.add_argument("--types", default="q8_0,q5_k_m,q4_k_m")
    parser.add_argument("--samples", type=int, default=128, help="Rows skipped as quantize.py's calibration.")
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--seq-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output-tensor-type", default="q5_0",
                        help="Also make q4_k_m with this output/tied-embedding type ('' to skip).")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_quant.calibration import load_calibration_split
    from largeforge_quant.gguf import convert_model, gguf_perplexity, quantize_file

    base = resolve_model(args.model)
    split = load_calibration_split(str(ALPACA), AutoTokenizer.from_pretrained(base), num_samples=args.samples,
                                   num_heldout=args.heldout, seq_length=args.seq_length, seed=0)
    results: dict[str, Any] = {
        "benchmark": "quantize_gguf", "model": args.model, "load_average_start": os.getloadavg(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "settings": {"heldout_samples": len(split.heldout), "seq_length": args.seq_length,
                     "threads": args.threads},
        "types": {},
    }
    with tempfile.TemporaryDirectory(prefix="lf-gguf-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        f16 = convert_model(Path(base), work / "f16.gguf", "f16")
        f16_seconds = time.perf_counter() - start
        f16_ppl = gguf_perplexity(f16, split.heldout, args.seq_length, args.threads)
        results["types"]["f16"] = {"bytes": f16.stat().st_size, "seconds": round(f16_seconds, 1),
                                   "perplexity": round(f16_ppl, 4), "answer": answer(f16)}
        print("f16", results["types"]["f16"], flush=True)
        variants = [(t, None) for t in args.types.split(",")]
        if args.output_tensor_type:
            variants.append(("q4_k_m", args.output_tensor_type))
        for gguf_type, output_type in variants:
            name = gguf_type if output_type is None else f"{gguf_type}+output_{output_type}"
            start = time.perf_counter()
            out = quantize_file(f16, work / f"{name}.gguf", gguf_type, args.threads, output_tensor_type=output_type)
            seconds = time.perf_counter() - start
            ppl = gguf_perplexity(out, split.heldout, args.seq_length, args.threads)
            reply = answer(out)
            results["types"][name] = {
                "bytes": out.stat().st_size, "size_ratio_vs_f16": round(out.stat().st_size / f16.stat().st_size, 4),
                "quantize_seconds": round(seconds, 1), "perplexity": round(ppl, 4),
                "perplexity_ratio_vs_f16": round(ppl / f16_ppl, 4), "answer": reply,
                "answers_paris": "Paris" in reply}
            print(name, results["types"][name], flush=True)
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
