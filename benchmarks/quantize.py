"""4-bit GPTQ and AWQ against the unquantized model, in one run, on the embedded SmolLM2-135M.

Calibration: ``--samples`` Alpaca rows (``../shared/data/real/alpaca_en_demo.json``) rendered
with the chat template; evaluation: perplexity on the outputs of ``--heldout`` other Alpaca rows
(prompt tokens are context, only the answers are scored). For each model it records the time
taken, the size of the weight files and of the quantized linear layers (against their 16-bit
size), the held-out perplexity and whether it still answers "Paris". Writes
``benchmarks/results/quantize.json``.

    python benchmarks/quantize.py [--samples 128] [--heldout 40] [--methods gptq,awq]
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
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results" / "quantize.json"
ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "alpaca_en_demo.json"
QUESTION = "What is the capital of France?"


def answer(model: Any, tokenizer: Any) -> str:
    """Greedy answer of ``model`` to the France question."""
    import torch

    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False,
                                           add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    return str(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)).strip()


def evaluate(model_dir: Path, heldout: list[Any], seq_length: int, quantized: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge_quant import load_quantized
    from largeforge_quant.report import perplexity

    model = load_quantized(model_dir) if quantized else AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = time.perf_counter()
    ppl = perplexity(model, tokenizer, heldout, seq_length)
    reply = answer(model, tokenizer)
    return {"perplexity": round(ppl, 4), "eval_seconds": round(time.perf_counter() - start, 1),
            "answer": reply, "answers_paris": "Paris" in reply}


def run_method(method: str, model: str, split: Any, seq_length: int, threads: int) -> dict[str, Any]:
    """Quantize with ``method``, then measure it (a function of its own so it can run in a worker)."""
    import torch

    from largeforge_quant import AWQQuantizer, GPTQQuantizer
    from largeforge_quant.report import model_size, quantized_layers

    if threads:
        torch.set_num_threads(threads)
    quantizer = {"gptq": GPTQQuantizer, "awq": AWQQuantizer}[method](model, bits=4, seq_length=seq_length)
    with tempfile.TemporaryDirectory(prefix=f"lf-quant-bench-{method}-") as tmp:
        out = Path(tmp) / method
        start = time.perf_counter()
        quantizer.quantize(split.texts, out)
        seconds = time.perf_counter() - start
        layers = quantized_layers(out)
        size = model_size(out, layers)
        return {"scheme": quantizer.config.merged(group_size=quantizer.group_size).label,
                "quantize_seconds": round(seconds, 1), "total_bytes": size.total_bytes,
                "linear_bytes": size.linear_bytes, "layers": layers,
                **evaluate(out, split.heldout, seq_length, quantized=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--calibration", default=str(ALPACA))
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--seq-length", type=int, default=512)
    parser.add_argument("--methods", default="gptq,awq")
    parser.add_argument("--parallel", action="store_true",
                        help="Run the methods and the baseline in separate single-threaded processes "
                             "(faster on a busy machine; each time then includes the others' load).")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import llmcompressor
    import torch
    from transformers import AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_quant.calibration import load_calibration_split
    from largeforge_quant.report import model_size

    base = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    split = load_calibration_split(args.calibration, tokenizer, num_samples=args.samples,
                                   num_heldout=args.heldout, seq_length=args.seq_length, seed=0)
    print(f"calibration: {len(split.texts)} rows, held-out: {len(split.heldout)} rows", flush=True)
    results: dict[str, Any] = {
        "benchmark": "quantize",
        "model": args.model,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "cuda": torch.cuda.is_available(), "torch": torch.__version__,
                    "llmcompressor": llmcompressor.__version__, "parallel": args.parallel},
        "settings": {"calibration": Path(args.calibration).name, "calibration_samples": len(split.texts),
                     "heldout_samples": len(split.heldout), "seq_length": args.seq_length,
                     "scheme": "W4 asymmetric, group size chosen from the layer widths"},
        "models": {},
    }
    methods = args.methods.split(",")
    runs: dict[str, dict[str, Any]] = {}
    if args.parallel:
        from concurrent.futures import ProcessPoolExecutor

        torch.set_num_threads(1)
        with ProcessPoolExecutor(max_workers=len(methods)) as pool:
            futures = {m: pool.submit(run_method, m, args.model, split, args.seq_length, 1) for m in methods}
            base_eval = evaluate(base, split.heldout, args.seq_length, quantized=False)
            print("unquantized", base_eval, flush=True)
            for method, future in futures.items():
                runs[method] = future.result()
                print(method, runs[method], flush=True)
    else:
        base_eval = evaluate(base, split.heldout, args.seq_length, quantized=False)
        print("unquantized", base_eval, flush=True)
        for method in methods:
            runs[method] = run_method(method, args.model, split, args.seq_length, 0)
            print(method, runs[method], flush=True)
    before = model_size(base, runs[methods[0]].pop("layers"))
    results["models"]["unquantized"] = {"quantize_seconds": 0.0, "total_bytes": before.total_bytes,
                                        "linear_bytes": before.linear_bytes,
                                        "linear_bytes_16bit": before.linear_bytes_16bit, **base_eval}
    for method, run in runs.items():
        run.pop("layers", None)
        run["linear_ratio_vs_16bit"] = round(run["linear_bytes"] / before.linear_bytes_16bit, 4)
        run["total_ratio"] = round(run["total_bytes"] / before.total_bytes, 4)
        run["perplexity_ratio"] = round(run["perplexity"] / base_eval["perplexity"], 4)
        results["models"][method] = run
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["models"], indent=2))


if __name__ == "__main__":
    main()
